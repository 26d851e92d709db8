/**
 * Whether a moment falls inside an offline window, with Telegram's whole-second dates in mind.
 *
 * @module
 */
import type { OfflineWindow } from "../../store/index.js";

/**
 * True when `atMs` certainly lies inside `window`, taken as the half-open interval
 * `[from, to)`: from the last heartbeat (inclusive) to the start that ended the outage
 * (exclusive: at `to` the bot was running again).
 *
 * Telegram's `date` is whole unix seconds, so a date `D` (a multiple of 1000 ms) only says the
 * user acted somewhere in `[D, D + 1000)`. Such a date counts as "down" only when that whole
 * second lies inside the window. The ambiguous seconds count as "up":
 * - a message dated in the second of the last heartbeat counts as down only when the second
 *   starts at or after the heartbeat (`D >= from`), i.e. it was certainly sent after it;
 * - a message dated in the second of the start counts as up: it may have been sent after the
 *   bot came back.
 * A value that is not a multiple of 1000 is taken as ms-precise. (One ms-precise value in a
 * thousand is a multiple of 1000 by chance; it is then judged a little more strictly, which
 * only matters within a second of the window's edges.)
 *
 * Note that `from` is the last heartbeat, which may precede a crash by up to one heartbeat
 * interval: messages sent in that interval count as down. They were delayed by the crash too.
 */
export function isInsideWindow(window: OfflineWindow | null, atMs: number): boolean {
  if (window === null || typeof atMs !== "number" || !Number.isFinite(atMs)) return false;
  const span = atMs % 1000 === 0 ? 1000 : 1;
  return atMs >= window.from && atMs + span <= window.to;
}
