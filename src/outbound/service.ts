/**
 * The outbound side of a runtime, wired: the outbox API, the blob folder, the pacer (shared
 * through the store when it has shared slots: PostgreSQL), the
 * delivery loop, and the grammY transformer that routes the bot's sends through them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import type { Api } from "grammy";
import type { Logger } from "../runtime/logger.js";
import type { Store } from "../store/index.js";
import { BlobStore } from "./blobs.js";
import { DeliveryLoop } from "./delivery.js";
import { Outbox, type OutboxDefaults } from "./outbox.js";
import { Pacer, type PacingLimits, type SendPacer } from "./pacing.js";
import { SharedPacer } from "./shared-pacer.js";
import { DirectSender } from "./direct-send.js";
import { outboxTransformer } from "./transformer.js";

/** Options of {@link startOutbound}. */
export interface OutboundOptions {
  readonly store: Store;
  readonly api: Api;
  readonly owner: string;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Claim lease of a job, ms (longer than any per-attempt timeout). */
  readonly leaseMs: number;
  readonly idleMs: number;
  readonly limits: Partial<PacingLimits>;
  readonly defaults: Partial<OutboxDefaults>;
  /**
   * Where blobs live; default a `blobs` folder beside the store's file, or for an in-memory
   * store a fresh private temp folder (see {@link Outbound.removeTemporaryBlobs}).
   */
  readonly blobDir?: string;
  /** Resolves when what was stored may be acknowledged (see `acknowledgeGate`); default at once. */
  readonly acknowledge?: () => Promise<void>;
  /** Called after a chat was marked unreachable. */
  readonly onUnreachable?: (chatId: number | string) => void;
  /**
   * Installs the outbox transformer on `api` (default true). A runtime installs its own when
   * it is created, so that `bot.api` sends made before `start()` wait for the outbox.
   */
  readonly installTransformer?: boolean;
}

/** The running outbound side. */
export interface Outbound {
  readonly outbox: Outbox;
  readonly delivery: DeliveryLoop;
  readonly blobs: BlobStore;
  /** Stops sending; in-flight requests finish within the deadline. */
  stop(deadlineMs: number): Promise<{ abandoned: number }>;
  /**
   * Deletes the blob folder when it is an in-memory store's temp folder (call after the store
   * is closed: its jobs are gone with it). Does nothing for a store on disk.
   */
  removeTemporaryBlobs(): Promise<void>;
}

/**
 * The temp blob folder of each in-memory store: a runtime started again on the same store
 * object finds the files of its queued jobs.
 */
const memoryBlobDirs = new WeakMap<Store, string>();

/**
 * The blob folder of a store that is not a file (PostgreSQL): `./data/blobs` under the working
 * directory, like the SQLite default's folder. Files spilled there are on this machine only:
 * workers on several machines need `blobDir` on a shared filesystem (see docs/postgres.md).
 */
const DEFAULT_SERVER_BLOB_DIR = join("data", "blobs");

/**
 * The blob folder of an in-memory store: a fresh `mkdtemp` folder (0700, unpredictable name).
 * A fixed name in the shared temp folder could be made beforehand by another user, who could
 * then read the files or have foreign files swept.
 */
async function memoryBlobDir(store: Store): Promise<string> {
  let dir = memoryBlobDirs.get(store);
  if (dir === undefined) {
    dir = await mkdtemp(join(tmpdir(), "unlost-blobs-"));
    memoryBlobDirs.set(store, dir);
  }
  return dir;
}

/** Opens the blob folder, installs the transformer on `api` and starts delivering. */
export async function startOutbound(options: OutboundOptions): Promise<Outbound> {
  const { store, api, clock, logger } = options;
  const location = store.location;
  const memory = options.blobDir === undefined && (location === ":memory:" || location === "");
  const blobDir = options.blobDir ?? (memory ? await memoryBlobDir(store) : store.kind === "sqlite" ? join(dirname(location), "blobs") : DEFAULT_SERVER_BLOB_DIR);
  const blobs = await BlobStore.open(blobDir);
  // Files of spills that crashed, or of jobs pruned or purged meanwhile, are removed.
  void referencedBlobs(store)
    .then((keep) => blobs.sweep(keep))
    .then((removed) => { if (removed.length > 0) logger.info({ removed: removed.length }, "removed orphan blob files"); })
    .catch((error: unknown) => logger.warn({ err: error }, "sweeping the blob folder failed"));
  // A store several processes share keeps the slots for all of them; otherwise this process's alone.
  const pacer: SendPacer = store.pacing === undefined
    ? new Pacer({ limits: options.limits, now: clock })
    : new SharedPacer({ store: store.pacing, limits: options.limits, now: clock, logger });
  let delivery: DeliveryLoop | undefined;
  const outbox = new Outbox({ store: store.outbox, blobs, clock, logger, defaults: options.defaults, onEnqueued: () => delivery?.wake(),
    ...(options.acknowledge === undefined ? {} : { acknowledge: options.acknowledge }) });
  delivery = new DeliveryLoop({
    store: store.outbox, api, blobs, pacer, owner: options.owner, clock, logger,
    concurrency: options.concurrency, leaseMs: options.leaseMs, idleMs: options.idleMs,
    onFinal: (job) => outbox.jobFinished(job.id, job.state === "delivered" ? { state: "delivered", result: job.result } : { state: "failed" }),
    ...(options.onUnreachable === undefined ? {} : { onUnreachable: options.onUnreachable }),
  });
  const loop = delivery;
  const direct = new DirectSender({
    store: store.outbox, api, pacer, clock, logger,
    enqueue: (jobs) => outbox.enqueueFromHandler(jobs),
    count: (outcome) => loop.countDirect(outcome),
    active: () => loop.sending,
  });
  outbox.useDirectSender(direct);
  if (options.installTransformer !== false) api.config.use(outboxTransformer(outbox));
  delivery.start();
  return {
    outbox, delivery, blobs,
    stop: async (deadlineMs) => {
      const stopped = await loop.stop(deadlineMs);
      // Handlers' direct sends delivered so far are recorded before the store closes.
      await direct.flush();
      return stopped;
    },
    removeTemporaryBlobs: async () => {
      if (!memory) return;
      memoryBlobDirs.delete(store);
      await rm(blobDir, { recursive: true, force: true });
    },
  };
}

/** Blob names still referenced by jobs that are not delivered yet. */
async function referencedBlobs(store: Store): Promise<Set<string>> {
  return new Set(await store.outbox.openBlobs());
}
