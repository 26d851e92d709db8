/**
 * `npm run example:<name>`: runs one example against the emulator with simulated users and
 * prints what happens. Exit code 0 when every expected reply arrived and the bot stopped
 * cleanly.
 *
 *   npx tsx examples/run.ts echo|notifier|downloader
 */
import { runExample } from "./harness.js";
import { SCENARIOS } from "./scenarios.js";

const name = process.argv[2];
if (name === undefined || SCENARIOS[name] === undefined) {
  console.error(`usage: tsx examples/run.ts <${Object.keys(SCENARIOS).join("|")}>`);
  process.exit(2);
}
const result = await runExample(name, { log: (line) => console.log(line) });
process.exit(result.missing.length === 0 && result.exitCode === 0 ? 0 : 1);
