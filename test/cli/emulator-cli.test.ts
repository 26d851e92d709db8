import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Bot } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/** Starts the CLI and resolves with the first stdout line matching `pattern`. */
async function startCli(args: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      output += d.toString();
      const m = pattern.exec(output);
      if (m) resolve(m);
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { child, match, output: () => output };
}

describe("unlost emulator (standalone)", () => {
  it("serves any well-formed token as its own bot, refuses a malformed one with 401, and stops on SIGTERM", async () => {
    const { child, match } = await startCli(["emulator", "--port", "0", "--no-limits"], /listening on (http:\/\/\S+)/);
    const url = match[1]!;
    const bot = new Bot("4242:standalone-secret", { client: { apiRoot: url } });
    expect((await bot.api.getMe()).id).toBe(4242);
    const bad = await fetch(`${url}/botmalformed/getMe`);
    expect(bad.status).toBe(401);
    // A user appears through the control API and the bot answers them.
    const user = (await (await fetch(`${url}/_emulator/users`, { method: "POST", body: "{}" })).json()) as { result: { id: number } };
    await fetch(`${url}/_emulator/users/${user.result.id}/messages`, { method: "POST", body: JSON.stringify({ bot_id: 4242, text: "ping" }) });
    const [update] = await bot.api.getUpdates();
    expect(update?.message?.text).toBe("ping");
    await bot.api.sendMessage(user.result.id, "pong");
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });
});

describe("unlost CLI arguments", () => {
  it("explains bad arguments and exits 2", async () => {
    const err: string[] = [];
    expect(await main(["emulator", "--port", "seventy"], () => {}, (l) => err.push(l))).toBe(2);
    expect(err.join("\n")).toMatch(/--port must be a whole number from 0 to 65535, got "seventy"/);
    expect(await main(["emulator", "--colour"], () => {}, (l) => err.push(l))).toBe(2);
    expect(err.join("\n")).toMatch(/Unknown option '--colour'.*unlost emulator --help/s);
    expect(await main(["launch"], () => {}, (l) => err.push(l))).toBe(2);
    expect(err.join("\n")).toMatch(/unknown command "launch"/);
  });

  it("prints help", async () => {
    const out: string[] = [];
    expect(await main(["--help"], (l) => out.push(l))).toBe(0);
    expect(await main(["emulator", "--help"], (l) => out.push(l))).toBe(0);
    expect(out.join("\n")).toMatch(/Usage: unlost emulator/);
  });

  it("lists every command and keeps the demo reachable (its runs are tested in test/demo)", async () => {
    const out: string[] = [];
    expect(await main(["--help"], (l) => out.push(l))).toBe(0);
    for (const command of ["run", "status", "dead-letters", "doctor", "demo", "emulator"]) expect(out.join("\n")).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    expect(await main(["demo", "--help"], (l) => out.push(l))).toBe(0);
    expect(out.join("\n")).toMatch(/Usage: unlost demo/);
  });
});
