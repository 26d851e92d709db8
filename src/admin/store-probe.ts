/**
 * One read of the store's counts for a scrape or a readiness probe, bounded in time: a store
 * that hangs (a locked database, a PostgreSQL server gone quiet) must make the probe say
 * "not ready", not hang the prober, which would time out without a reason.
 *
 * @module
 */
import type { OutboxStats } from "../outbound/types.js";
import type { InboxStats } from "../store/index.js";
import type { AdminSource } from "./source.js";

/**
 * How long a probe waits for the store, ms: under the 1 s default timeout of a Kubernetes
 * probe (and Prometheus' 10 s scrape timeout), so that the prober gets our reason, not its own.
 */
export const STORE_PROBE_TIMEOUT_MS = 900;

/** What a probe found. */
export type StoreProbe =
  | { readonly ok: true; readonly inbox: InboxStats; readonly outbox: OutboxStats; readonly now: number }
  | { readonly ok: false; readonly reason: string };

/** Reads the inbox and outbox counts; never rejects. The reason of a failure is scrubbed. */
export async function probeStore(source: AdminSource, timeoutMs = STORE_PROBE_TIMEOUT_MS): Promise<StoreProbe> {
  const store = source.store();
  if (store === undefined) return { ok: false, reason: "the store is not open (the runtime is starting or stopped)" };
  const now = source.clock();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const read = Promise.all([store.inbox.stats({ now }), store.outbox.stats({ now })]);
    // The read may still fail after the timeout won: nobody awaits it then.
    read.catch(() => undefined);
    const result = await Promise.race([read, timeout]);
    if (result === "timeout") return { ok: false, reason: `the store did not answer within ${timeoutMs} ms (${store.kind} at ${store.location})` };
    const [inbox, outbox] = result;
    return { ok: true, inbox, outbox, now };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: source.scrub(`the store failed: ${message}`) };
  } finally {
    clearTimeout(timer);
  }
}
