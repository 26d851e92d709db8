import { mkdtempSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { UnlostError, isUnlostError } from "./unlost-error.js";

describe("UnlostError across copies of unlost", () => {
  it("is recognised by instanceof and isUnlostError when another copy of the module made it", async () => {
    // A second copy of the module, as a bot module with a TypeScript path mapping (or a
    // monorepo with two versions) loads it: a class of its own, the same brand.
    const dir = mkdtempSync(join(tmpdir(), "unlost-error-copy-"));
    mkdirSync(join(dir, "errors"));
    copyFileSync(new URL("./unlost-error.ts", import.meta.url), join(dir, "errors", "unlost-error.ts"));
    writeFileSync(join(dir, "errors", "redact.ts"), 'export const redactSecrets = (text: string): string => text;\n');
    const copy = (await import(pathToFileURL(join(dir, "errors", "unlost-error.ts")).href)) as typeof import("./unlost-error.js");
    expect(copy.UnlostError).not.toBe(UnlostError);

    const theirs = new copy.UnlostError("TASK_QUEUE_FULL", "full");
    expect(theirs instanceof UnlostError).toBe(true);
    expect(isUnlostError(theirs, "TASK_QUEUE_FULL")).toBe(true);
    expect(isUnlostError(theirs, "INVALID_CONFIG")).toBe(false);
    expect(copy.isUnlostError(new UnlostError("INVALID_CONFIG", "bad"), "INVALID_CONFIG")).toBe(true);
  });

  it("is not fooled by other errors", () => {
    const lookalike = Object.assign(new Error("x"), { name: "UnlostError", code: "TASK_QUEUE_FULL" });
    expect(lookalike instanceof UnlostError).toBe(false);
    expect(isUnlostError(lookalike)).toBe(false);
    expect(isUnlostError(undefined)).toBe(false);
    expect(new UnlostError("INVALID_CONFIG", "bad") instanceof Error).toBe(true);
  });
});
