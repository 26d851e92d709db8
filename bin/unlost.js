#!/usr/bin/env node
// The `unlost` command. An installed package has only dist/ (npm's "files"): it runs the build.
// In a checkout of the repository (src/ beside dist/), a missing or stale build would run old
// code, or nothing: then the TypeScript sources run through tsx instead, so `npx unlost
// emulator` works right after a pull, without `npm run build`. Stale: a file under src/ is
// newer than dist/cli/main.js. UNLOST_BIN_FORCE_SOURCE=1 runs the sources regardless (tests).
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const built = join(root, "dist", "cli", "main.js");
const source = join(root, "src", "cli", "main.ts");

/** The newest modification time under `dir` (ms). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function useSource() {
  if (!existsSync(source)) return false;
  if (process.env.UNLOST_BIN_FORCE_SOURCE === "1" || !existsSync(built)) return true;
  return newest(join(root, "src")) > statSync(built).mtimeMs;
}

const cli = useSource()
  ? await (await import("tsx/esm/api")).tsImport(pathToFileURL(source).href, import.meta.url)
  : await import(pathToFileURL(built).href);
cli.runProgram();
