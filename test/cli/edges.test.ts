/**
 * The edges a new user hits first (issue 8, item 6), as a user meets them: a bot module that
 * does not load (syntax error, a throwing setup, a missing package) gets one clear line with
 * the file and line and exit 2, never a stack trace; `--version`; `help <command>`; `status
 * --json` errors as JSON; `dead-letters --chat` takes only chat ids; the bin shim runs the
 * sources when there is no fresh build.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseEnv, cli } from "./fixtures/cli-process.js";

const TOKEN = "5200001:edges-test-secret-token";
const INDEX = new URL("../../src/index.js", import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
let cwd: string;

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "unlost-edges-"));
  // An ESM project, as grammY bots usually are. (A .ts module that tsx compiles as CommonJS runs
  // without a source map: its errors name the file but no line; see whereThrown in bot-module.ts.)
  writeFileSync(join(cwd, "package.json"), JSON.stringify({ type: "module" }));
  // Written here, not kept as fixtures: broken TypeScript would break the project's type check.
  writeFileSync(join(cwd, "syntax-error.ts"), [
    "// a bot module with a syntax error on line 3",
    `import type { BotSetup } from ${JSON.stringify(INDEX)};`,
    'const setup: BotSetup = (bot) => { bot.on("message", (ctx) => ctx.reply("hi") ;',
    "export default setup;",
  ].join("\n"));
  writeFileSync(join(cwd, "throwing-setup.ts"), [
    `import type { BotSetup } from ${JSON.stringify(INDEX)};`,
    "",
    "const setup: BotSetup = () => {",
    '  throw new Error("no database configured");',
    "};",
    "export default setup;",
  ].join("\n"));
  writeFileSync(join(cwd, "throwing-module.mjs"), ['const x = 1;', 'throw new TypeError("config.json is missing");', "export default x;"].join("\n"));
  writeFileSync(join(cwd, "missing-dependency.ts"), ['import { something } from "a-package-that-is-not-installed";', "export default () => something;"].join("\n"));
});

afterAll(() => {
  if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
});

/** No stack trace: no "    at " frames, no node internals. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/node:internal/);
}

describe("a bot module that does not load", () => {
  // An unreachable API root: none of these gets as far as calling Telegram.
  const env = baseEnv({ BOT_TOKEN: TOKEN, UNLOST_API_ROOT: "http://127.0.0.1:9" });

  it("a syntax error: one line with file:line, exit 2", async () => {
    const r = await cli(["run", "syntax-error.ts"], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unlost run: the bot module .*syntax-error\.ts:3(:\d+)? has a syntax error: /);
    expectNoStack(r.stderr);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a setup function that throws: its message and file:line, exit 2", async () => {
    const r = await cli(["run", "throwing-setup.ts"], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unlost run: the bot module's setup failed at .*throwing-setup\.ts:4(:\d+)?: Error: no database configured/);
    expectNoStack(r.stderr);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a module that throws while it loads: its message and file:line, exit 2", async () => {
    const r = await cli(["run", "throwing-module.mjs"], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unlost run: the bot module .*throwing-module\.mjs failed to load at .*throwing-module\.mjs:2(:\d+)?: TypeError: config\.json is missing/);
    expectNoStack(r.stderr);
  });

  it("a missing package: which one, from where, and the fix, exit 2", async () => {
    const r = await cli(["run", "missing-dependency.ts"], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unlost run: the bot module .*missing-dependency\.ts:1 imports "a-package-that-is-not-installed", which is not installed \(npm install a-package-that-is-not-installed\)/);
    expectNoStack(r.stderr);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("asking the CLI about itself", () => {
  it("--version and -v print package.json's version", async () => {
    for (const flag of ["--version", "-v", "version"]) {
      const r = await cli([flag], { cwd, env: baseEnv() });
      expect(r.code, flag).toBe(0);
      expect(r.stdout.trim(), flag).toBe(VERSION);
    }
  });

  it("help <command> is <command> --help; help of an unknown command exits 2", async () => {
    const help = await cli(["help", "run"], { cwd, env: baseEnv() });
    const flag = await cli(["run", "--help"], { cwd, env: baseEnv() });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: unlost run <bot-module>/);
    expect(help.stdout).toBe(flag.stdout);
    const unknown = await cli(["help", "launch"], { cwd, env: baseEnv() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "launch"/);
  });
});

describe("operator commands' errors", () => {
  it("status --json reports an error as one JSON object, with the same exit code", async () => {
    const r = await cli(["status", "--json", "--data", "no-such-folder"], { cwd, env: baseEnv() });
    expect(r.code).toBe(2);
    const parsed = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(parsed.error.code).toBe("INVALID_ARGUMENT");
    expect(parsed.error.message).toMatch(/no-such-folder/);
    expect(r.stderr).toBe("");

    const usage = await cli(["status", "--json", "--stuck-after", "soon"], { cwd, env: baseEnv() });
    expect(usage.code).toBe(2);
    expect((JSON.parse(usage.stdout) as { error: { message: string } }).error.message).toMatch(/--stuck-after must be a duration/);
  });

  it("dead-letters --chat takes an integer chat id or an @username, nothing else (exit 2)", async () => {
    mkdirSync(join(cwd, "empty"), { recursive: true });
    for (const side of [[], ["--outbox"]]) {
      const r = await cli(["dead-letters", "list", ...side, "--chat", "abc"], { cwd, env: baseEnv() });
      expect(r.code, side.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/--chat must be a chat id \(an integer such as 123456789 or -1001234567890\) or an @username, got "abc"/);
    }
  });
});

describe("the bin in a checkout without a fresh build", () => {
  it("bin/unlost.js runs the TypeScript sources when dist is missing or older than src", () => {
    const bin = new URL("../../bin/unlost.js", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, "--version"], { cwd, env: { ...baseEnv(), UNLOST_BIN_FORCE_SOURCE: "1" }, encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { bin: Record<string, string> };
    expect(pkg.bin["unlost"]).toBe("./bin/unlost.js");
  });
});
