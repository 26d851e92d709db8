import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TaskTempDirs } from "./temp-dirs.js";

const base = mkdtempSync(join(tmpdir(), "unlost-task-dirs-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("task temp folders", () => {
  it("makes an empty private folder per try (a crashed try's files gone) and removes it", async () => {
    const dirs = new TaskTempDirs(join(base, "a", "tasks-tmp"));
    const id = "123:45:task:0";
    const dir = await dirs.create(id);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(dirs.root).mode & 0o777).toBe(0o700);
    writeFileSync(join(dir, "left.bin"), "x");
    const again = await dirs.create(id);
    expect(again).toBe(dir);
    expect(existsSync(join(dir, "left.bin"))).toBe(false);
    expect(await dirs.list()).toEqual([id]);
    await dirs.remove(id);
    expect(existsSync(dir)).toBe(false);
  });

  it("keeps ids with slashes inside the root", async () => {
    const dirs = new TaskTempDirs(join(base, "b"));
    const dir = await dirs.create("key:../../etc");
    expect(dir.startsWith(dirs.root)).toBe(true);
    expect(await dirs.list()).toEqual(["key:../../etc"]);
  });

  it("sweeps every folder but the ones still claimed", async () => {
    const dirs = new TaskTempDirs(join(base, "c"));
    for (const id of ["alive", "dead", "gone"]) await dirs.create(id);
    mkdirSync(join(dirs.root, "stray"));
    const removed = await dirs.sweep(async (id) => id === "alive");
    expect(removed.sort()).toEqual(["dead", "gone", "stray"]);
    expect(await dirs.list()).toEqual(["alive"]);
    expect(await new TaskTempDirs(join(base, "missing")).sweep(async () => false)).toEqual([]);
  });
});
