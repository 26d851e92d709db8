/**
 * The admin server's settings on the command line: `--admin-port`, `UNLOST_ADMIN_PORT`,
 * `--admin-host`, the `admin` section of the config file, and the token kept out of files.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(config?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "unlost-admin-cfg-"));
  dirs.push(dir);
  if (config !== undefined) writeFileSync(join(dir, "unlost.config.json"), JSON.stringify(config));
  return dir;
}

describe("admin settings", () => {
  it("maps --admin-port and --admin-host (over UNLOST_ADMIN_PORT and the file) onto the admin option", () => {
    const cwd = folder({ admin: { port: 9100, maxBacklogAgeMs: 60_000 } });
    expect(loadConfig({ flags: {}, env: {}, cwd }).runtime.admin).toEqual({ port: 9100, maxBacklogAgeMs: 60_000 });
    expect(loadConfig({ flags: {}, env: { UNLOST_ADMIN_PORT: "9200" }, cwd }).runtime.admin).toEqual({ port: 9200, maxBacklogAgeMs: 60_000 });
    const flagged = loadConfig({ flags: { "admin-port": "9300", "admin-host": "0.0.0.0" }, env: { UNLOST_ADMIN_PORT: "9200" }, cwd });
    expect(flagged.runtime.admin).toEqual({ port: 9300, host: "0.0.0.0", maxBacklogAgeMs: 60_000 });
    expect(flagged.origins.get("admin.port")).toBe("--admin-port");
  });

  it("has no admin server by default; UNLOST_ADMIN_TOKEN is a known variable (no warning), not an option", () => {
    const c = loadConfig({ flags: {}, env: { UNLOST_ADMIN_TOKEN: "0123456789abcdef0123" }, cwd: folder() });
    expect(c.runtime.admin).toBeUndefined();
    expect(c.warnings).toEqual([]);
  });

  it("refuses a bad port naming where it came from, a host without a port, and the token in the file", () => {
    expect(() => loadConfig({ flags: { "admin-port": "70000" }, env: {}, cwd: folder() })).toThrow(/admin\.port \(from --admin-port\)/);
    expect(() => loadConfig({ flags: { "admin-host": "0.0.0.0" }, env: {}, cwd: folder() })).toThrow(/the admin server needs a port/);
    expect(() => loadConfig({ flags: {}, env: {}, cwd: folder({ admin: { port: 1, token: "0123456789abcdef0123" } }) })).toThrow(/do not put the admin token in the config file/);
  });
});
