/**
 * What the demo's bot processes read from their environment and how they talk back to the
 * demo: one JSON object per stdout line (the runtime's own JSON logs share the stream).
 */

/** The settings the demo passes to a bot process. */
export interface DemoChildEnv {
  /** The emulator's URL (grammY's `apiRoot`). */
  readonly apiRoot: string;
  /** The demo bot's token. */
  readonly token: string;
  /** The SQLite file of the unlost bot (unused by the stock bot). */
  readonly dbPath: string;
}

/** Reads the environment; a missing variable ends the process with a message (it is started by the demo only). */
export function childEnv(): DemoChildEnv {
  const get = (name: string): string => {
    const value = process.env[name];
    if (value === undefined || value === "") {
      process.stderr.write(`the demo bot needs ${name} in its environment; it is started by "unlost demo"\n`);
      process.exit(2);
    }
    return value;
  };
  watchParent(Number(process.env["DEMO_PARENT_PID"]));
  return { apiRoot: get("API_ROOT"), token: get("BOT_TOKEN"), dbPath: process.env["DB_PATH"] ?? "" };
}

/**
 * Exits when the demo that started this bot is gone (killed itself, so it could not clean
 * up): a demo bot must not outlive its demo and poll a dead emulator forever.
 */
function watchParent(parentPid: number): void {
  if (!Number.isSafeInteger(parentPid) || parentPid <= 1) return;
  setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      process.exit(1);
    }
  }, 1_000).unref();
}

/** Prints one event line for the demo. */
export function printEvent(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
