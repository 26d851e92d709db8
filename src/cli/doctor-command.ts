/**
 * `unlost doctor`: checks what a bot needs to run (token, webhook state, store, disk) and
 * explains each problem with its fix. Exit 0 when all is well, 1 when a problem was found, 2
 * for bad usage or a missing token.
 *
 * @module
 */
import { Api } from "grammy";
import { loadConfig } from "../config/index.js";
import { UnlostError } from "../errors/index.js";
import { parseCommandLine, settingOptions } from "./args.js";
import { checkDisk, checkStore, checkToken, checkWebhook, type Finding } from "./doctor-checks.js";
import { requireToken } from "./token.js";

/** Help text of `unlost doctor`. */
export const DOCTOR_HELP = `Usage: unlost doctor [options]

Checks the bot token (getMe), the webhook state (getWebhookInfo), the store
(opens, schema version, integrity, counts; on PostgreSQL also the server's
connections, who polls and which processes run) and the free disk space of the
data folder, and explains each problem with its fix.

Environment:
  BOT_TOKEN          the bot's token (required)

Options:
  --data <dir>       folder of the store (default ./data; or UNLOST_DATA_DIR)
  --store <url>      a PostgreSQL store instead (or UNLOST_STORE)
  --schema <name>    its schema (default unlost; or UNLOST_STORE_SCHEMA)
  --api-root <url>   Bot API server (default Telegram's; or UNLOST_API_ROOT)
  --webhook <url>    the webhook URL the bot should use (default: polling)
  --config <file>    config file (default ./unlost.config.json when present)
  --json             one JSON object instead of text
  -h, --help         show this help

Exit codes: 0 all good (warnings allowed), 1 a problem was found, 2 bad usage or no token.`;

const MARK = { ok: "ok  ", warn: "warn", problem: "FAIL" } as const;

/** Runs `unlost doctor`. */
export async function runDoctorCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine("doctor", argv, { ...settingOptions("operate"), json: { type: "boolean" }, help: { type: "boolean", short: "h" } });
  if (values["help"] === true) {
    out(DOCTOR_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UnlostError("INVALID_ARGUMENT", `unexpected argument "${positionals.join(" ")}". Run "unlost doctor --help" for the options.`);
  const config = loadConfig({ flags: values, env: process.env, cwd: process.cwd() });
  const token = requireToken(config.token, "doctor");
  const apiRoot = config.apiRoot ?? "https://api.telegram.org";
  const api = new Api(token, { apiRoot, timeoutSeconds: 15 });
  const now = Date.now();

  const findings: Finding[] = [];
  const { finding, me } = await checkToken(api, apiRoot);
  findings.push(finding);
  if (me !== null) findings.push(...(await checkWebhook(api, config, now)));
  findings.push(...(await checkStore(config, now, me)), ...(await checkDisk(config.dataDir)));

  const problems = findings.filter((f) => f.level === "problem").length;
  const warnings = findings.filter((f) => f.level === "warn").length;
  if (values["json"] === true) {
    out(JSON.stringify({ ok: problems === 0, problems, warnings, findings }));
  } else {
    for (const f of findings) {
      out(`${MARK[f.level]}  ${f.check}: ${f.message}`);
      if (f.fix !== undefined) out(`        fix: ${f.fix}`);
    }
    out(problems === 0 ? `doctor: all good${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? "" : "s"})` : ""}` : `doctor: ${problems} problem${problems === 1 ? "" : "s"} found`);
  }
  return problems === 0 ? 0 : 1;
}
