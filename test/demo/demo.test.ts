/**
 * The demo as a user runs it (`node dist/cli/main.js demo`, a real process, built by `npm test`
 * before vitest runs): a small population, two kill -9s, faults and a 429 storm; the verified
 * summary on the last line must show nothing lost. And bad options: a clear message, exit 2.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;

/** Runs the built CLI to its end; resolves with its exit code and output. */
function runCli(args: readonly string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`demo did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("unlost demo", () => {
  it("survives two kill -9s, network faults and a 429 storm with nothing lost, verified against the emulator", async () => {
    const { code, stdout, stderr } = await runCli(["demo", "--users", "10", "--duration", "8", "--kills", "2", "--json", "--port", "0"], 40_000);
    const lines = stdout.trimEnd().split("\n");
    const summary = JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
    expect(summary, `${stdout}\n${stderr}`).toMatchObject({ demo: true, lost: 0, kills: 2, drained: true });
    const n = (key: string): number => summary[key] as number;
    expect(n("sent")).toBeGreaterThan(0);
    expect(n("handled")).toBe(n("sent"));
    expect(n("replies_delivered")).toBeGreaterThanOrEqual(n("handled"));
    // Every extra copy is one the demo can explain: an answer lost in transit, or a send on the wire at a kill.
    expect(n("duplicated")).toBe(n("replies_delivered") - n("handled"));
    expect(n("duplicated")).toBe(n("duplicated_answer_lost") + n("duplicated_at_kill"));
    // The faults met the bot: at least the certain reset, 502 and the storm's 429s (counted by the emulator).
    expect(n("responses_429")).toBeGreaterThanOrEqual(2);
    expect(n("faults_injected")).toBeGreaterThanOrEqual(n("responses_429") + 2);
    expect(typeof summary["p50_reply_ms"]).toBe("number");
    expect(n("p99_reply_ms")).toBeGreaterThanOrEqual(n("p50_reply_ms"));
    // The human part: the script's events and the table.
    expect(stdout).toMatch(/kill -9 #1 \(pid \d+\): the bot is down/);
    expect(stdout).toMatch(/429 storm/);
    expect(stdout).toMatch(new RegExp(`of which 429s +${n("responses_429")}\\b`));
    expect(stdout).toMatch(/LOST \(no reply at all\) +0/);
    expect(stdout).toMatch(/✓ unlost: nothing lost/);
    expect(code).toBe(0);
  }, 45_000);

  it("explains bad options and exits 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--users", "lots"], /--users must be a whole number from 1 to 2000, got "lots"/],
      [["--users", "0"], /--users must be a whole number from 1 to 2000, got "0"/],
      [["--duration", "2"], /--duration must be a whole number from 5 to 3600/],
      [["--duration", "6", "--kills", "5"], /--duration 6 is too short for 5 kills: give at least 15 seconds/],
      [["--kills=-1"], /--kills must be a whole number from 0 to 20/],
      [["--port", "99999"], /--port must be a whole number from 0 to 65535/],
      [["--seed", "1.5"], /--seed must be a whole number/],
      [["--colour"], /Unknown option '--colour'.*unlost demo --help/s],
      [["--users"], /--users.*argument missing|option '--users <value>' argument missing/i],
    ];
    for (const [args, message] of cases) {
      const err: string[] = [];
      expect(await main(["demo", ...args], () => undefined, (l) => err.push(l)), args.join(" ")).toBe(2);
      expect(err.join("\n"), args.join(" ")).toMatch(message);
    }
    // And as a real process, the exit code a shell sees.
    const { code, stderr } = await runCli(["demo", "--kills", "many"], 10_000);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unlost demo: --kills must be a whole number from 0 to 20, got "many"/);
  });

  it("--help lists every option", async () => {
    const out: string[] = [];
    expect(await main(["demo", "--help"], (l) => out.push(l))).toBe(0);
    for (const option of ["--users", "--duration", "--kills", "--seed", "--compare", "--json", "--port"]) expect(out.join("\n")).toContain(option);
  });
});
