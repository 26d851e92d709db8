import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { openStore } from "../store/index.js";
import { runDeadLettersCommand } from "./dead-letters-command.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "unlost-dl-cli-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await runDeadLettersCommand([...args, "--data", dir], (line) => lines.push(line));
  return lines;
}

describe("unlost dead-letters with an unstorable update", () => {
  it("lists it, shows its error and text as received under its negative id, refuses to retry it and purges it", async () => {
    const store = await openStore({ path: join(dir, "unlost.sqlite") });
    const raw = '{"message":{"text":"hi"}, "update_id":"7"}';
    await store.inbox.ingest([], { nextOffset: 8, unstorable: [{ raw, error: 'update has no valid update_id: got "7" (a non-negative integer is required)' }] });
    await store.close();

    const list = (await run("list")).join("\n");
    expect(list).toMatch(/-1\s+unstorable\s+unstorable/);
    expect((await run("list", "--type", "unstorable", "--json")).join("")).toContain('"updateId":-1');
    const show = await run("show", "-1");
    expect(show[0]).toMatch(/inbox dead letter -1 \(an unstorable update/);
    expect(show).toContain('error:       update has no valid update_id: got "7" (a non-negative integer is required)');
    expect(show).toContain(`  ${raw}`);
    expect(show.join("\n")).toMatch(/cannot be retried.*purge -1/);
    const retried = await runDeadLettersCommand(["retry", "-1", "--data", dir], () => undefined).catch((e: unknown) => e);
    expect(isUnlostError(retried) && retried.code).toBe("INVALID_ARGUMENT");
    expect((retried as Error).message).toMatch(/unstorable update .* cannot be retried/);
    expect(await run("purge", "-1")).toEqual(["purged 1 dead update (inbox)"]);
    expect(await run("list")).toEqual(["no inbox dead letters match"]);
  });
});
