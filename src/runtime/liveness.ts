/**
 * Who is alive. Each runtime has an instance id and holds a `worker:<id>` lease that it renews
 * with its heartbeat. Claims held by an instance that is gone (its process no longer exists
 * on this host, or its lease ran out) are expired at once, so a restart after `kill -9` picks
 * the interrupted updates up immediately instead of waiting for their claims to time out.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Store } from "../store/index.js";
import type { Logger } from "./logger.js";

/** A new instance id: `<host>/<pid>/<random>`. */
export function newInstanceId(): string {
  return `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
}

/** The lease name that says an instance is alive. */
export const workerLeaseName = (instanceId: string): string => `worker:${instanceId}`;

/** True when the process of `instanceId` certainly no longer exists (same host, pid gone). */
function processGone(instanceId: string): boolean {
  const [host, pidText] = instanceId.split("/");
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * True when instance `owner` is gone: its process no longer exists on this host, or its
 * worker lease ran out (it stopped renewing it: dead, or on another host and unreachable).
 */
export async function instanceGone(store: Store, owner: string, now: number): Promise<boolean> {
  if (processGone(owner)) return true;
  const lease = await store.leases.get(workerLeaseName(owner));
  return lease === null || lease.expiresAt <= now;
}

/**
 * Turns the unfinished journal entries of every instance that is gone (and, with
 * `includeSelf`, this instance's own, e.g. left by an earlier run under the same id) into
 * inbox rows, in order. Returns how many updates were adopted.
 */
export async function adoptGoneJournals(store: Store, self: string, now: number, logger: Logger, options: { readonly includeSelf?: boolean } = {}): Promise<number> {
  const journal = store.inbox.journal;
  if (journal === undefined) return 0;
  let adopted = 0;
  for (const owner of await journal.owners()) {
    if (owner === self ? options.includeSelf !== true : !(await instanceGone(store, owner, now))) continue;
    const n = await journal.adopt(owner, { now });
    if (n > 0) logger.warn({ instance: owner, updates: n }, owner === self ? "updates left unfinished by the previous run are handled now" : "an instance stopped before handling all of its updates; they are taken over");
    adopted += n;
  }
  return adopted;
}

/**
 * Expires the claims of every other instance that is gone and adopts its journal; returns how
 * many claims were expired and updates adopted (they are recovered by the next claim, in order).
 */
export async function recoverDeadInstances(store: Store, self: string, now: number, logger: Logger): Promise<number> {
  let expired = await adoptGoneJournals(store, self, now, logger);
  for (const owner of await store.inbox.inflightOwners()) {
    if (owner === self) continue;
    if (!(await instanceGone(store, owner, now))) continue;
    const n = await store.inbox.expireClaims({ owner, now });
    if (n > 0) logger.warn({ deadInstance: owner, claims: n }, "an instance died while handling updates; its updates are taken over");
    expired += n;
  }
  // The same for sends: a job claimed by a dead process is sent again (counted as ambiguous).
  for (const owner of await store.outbox.inflightOwners()) {
    if (owner === self) continue;
    if (!(await instanceGone(store, owner, now))) continue;
    const n = await store.outbox.expireClaims({ owner, now });
    if (n > 0) logger.warn({ deadInstance: owner, jobs: n }, "an instance died while sending; its sends are taken over");
    expired += n;
  }
  return expired;
}
