/**
 * The configuration loader: precedence flags > environment > file > defaults, the mapping
 * onto createRuntime options, and its messages.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, SETTINGS } from "../../src/config/index.js";
import { readFileSync } from "node:fs";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(config?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "unlost-cfg-"));
  dirs.push(dir);
  if (config !== undefined) writeFileSync(join(dir, "unlost.config.json"), JSON.stringify(config));
  return dir;
}

describe("loadConfig", () => {
  it("applies defaults: ./data, polling, nothing else set", () => {
    const cwd = folder();
    const c = loadConfig({ flags: {}, env: {}, cwd });
    expect(c.dataDir).toBe(join(cwd, "data"));
    expect(c.storePath).toBe(join(cwd, "data", "unlost.sqlite"));
    expect(c.runtime).toEqual({ store: { path: join(cwd, "data", "unlost.sqlite") } });
    expect(c.token).toBeUndefined();
    expect(c.configFile).toBeNull();
  });

  it("takes flags over the environment over the file, and maps keys onto createRuntime options", () => {
    const cwd = folder({ dataDir: "from-file", inbox: { concurrency: 4, maxAttempts: 9 }, downtime: { heartbeatMs: 1000 }, store: { synchronous: "full" } });
    const c = loadConfig({
      flags: { concurrency: "16", data: "from-flag" },
      env: { UNLOST_CONCURRENCY: "8", UNLOST_DATA_DIR: "from-env", UNLOST_ADMIN_CHAT_IDS: "1, -1002", UNLOST_NOTIFY_OFFLINE: "yes", BOT_TOKEN: " 1:abc " },
      cwd,
    });
    expect(c.dataDir).toBe(join(cwd, "from-flag"));
    expect(c.runtime.inbox).toEqual({ concurrency: 16, maxAttempts: 9 });
    expect(c.runtime.downtime).toEqual({ heartbeatMs: 1000, adminChatIds: [1, -1002] });
    expect(c.runtime.catchUp).toEqual({ notifyOffline: true });
    expect(c.runtime.store).toEqual({ synchronous: "full", path: join(cwd, "from-flag", "unlost.sqlite") });
    expect(c.origins.get("inbox.concurrency")).toBe("--concurrency");
    expect(c.token).toBe("1:abc");
  });

  it("selects webhook mode when a webhook URL outranks the mode", () => {
    const cwd = folder({ mode: "polling" });
    expect(loadConfig({ flags: { webhook: "https://bot.example.com/hook", port: "9000" }, env: {}, cwd }).runtime).toMatchObject({ mode: "webhook", webhook: { url: "https://bot.example.com/hook", port: 9000 } });
    expect(loadConfig({ flags: {}, env: { UNLOST_MODE: "polling" }, cwd }).runtime.mode).toBe("polling");
  });

  it("takes durability from a flag, the environment or the file, and refuses anything but disk or process", () => {
    const cwd = folder({ durability: "process" });
    expect(loadConfig({ flags: {}, env: {}, cwd }).runtime.durability).toBe("process");
    expect(loadConfig({ flags: {}, env: { UNLOST_DURABILITY: "disk" }, cwd }).runtime.durability).toBe("disk");
    expect(loadConfig({ flags: { durability: "process" }, env: { UNLOST_DURABILITY: "disk" }, cwd }).runtime.durability).toBe("process");
    expect(loadConfig({ flags: {}, env: {}, cwd: folder() }).runtime.durability).toBeUndefined();
    expect(() => loadConfig({ flags: { durability: "fast" }, env: {}, cwd: folder() })).toThrow(/--durability must be one of disk, process/);
    expect(() => loadConfig({ flags: {}, env: {}, cwd: folder({ durability: "none" }) })).toThrow(/durability.*must be "disk" or "process"/);
  });

  it("names the source of a wrong value", () => {
    const cwd = folder({ polling: { timeoutSeconds: 99 } });
    expect(() => loadConfig({ flags: {}, env: {}, cwd })).toThrow(/polling\.timeoutSeconds \(from .*unlost\.config\.json\): Too big/);
    expect(() => loadConfig({ flags: { "log-level": "loud" }, env: {}, cwd: folder() })).toThrow(/--log-level must be one of fatal, error/);
    expect(() => loadConfig({ flags: {}, env: { UNLOST_NOTIFY_OFFLINE: "sometimes" }, cwd: folder() })).toThrow(/UNLOST_NOTIFY_OFFLINE must be true or false/);
    expect(() => loadConfig({ flags: {}, env: { UNLOST_ADMIN_CHAT_IDS: "alice" }, cwd: folder() })).toThrow(/comma-separated chat ids/);
    expect(() => loadConfig({ flags: {}, env: {}, cwd: folder({ inbox: { concurency: 3 } }) })).toThrow(/inbox.*unknown key "concurency"/);
  });

  it("warns about UNLOST_* variables that are no setting (a typo is not silently ignored)", () => {
    const c = loadConfig({ flags: {}, env: { UNLOST_CONCURENCY: "3" }, cwd: folder() });
    expect(c.warnings).toEqual([expect.stringMatching(/UNLOST_CONCURENCY is not an unlost setting/)]);
  });

  it("documents every setting in docs/configuration.md", () => {
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    for (const s of SETTINGS) {
      expect(doc, s.key).toContain(`\`${s.key}\``);
      if (s.flag !== undefined) expect(doc, s.key).toContain(`\`--${s.flag}`);
      if (s.env !== undefined) expect(doc, s.key).toContain(`\`${s.env}\``);
    }
  });
});
