/**
 * Named leases on PostgreSQL, with the semantics of ../sqlite/lease.ts: a row per lease kept
 * after release (expires_at 0) so epochs never repeat; every change reads the row `FOR UPDATE`,
 * so two processes acquiring at once are serialized by the row lock.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { LeaseFence, LeaseGrant, LeaseInfo, LeaseStore } from "../lease-types.js";
import { requireInt, requireText, requireTime } from "../validate.js";
import { CHAT_LOCK_CLASS, chatLocksSql } from "./chat-locks.js";
import type { PgDatabase, Tx } from "./database.js";

interface LeaseRow {
  name: string;
  owner: string;
  epoch: number;
  expires_at: number;
}

/** `lock`: FOR UPDATE (the caller changes it) or FOR SHARE (the caller's write is fenced by it). */
async function readLease(tx: Tx, name: string, lock: "" | "FOR UPDATE" | "FOR SHARE" = ""): Promise<LeaseRow | undefined> {
  return tx.one<LeaseRow>(`SELECT name, owner, epoch, expires_at FROM leases WHERE name = $1 ${lock}`, [name]);
}

/** True while `fence` is the lease's latest holding (expired but not taken over counts). */
function fenceHolds(row: LeaseRow | undefined, fence: LeaseFence): boolean {
  return row !== undefined && row.owner === fence.owner && row.epoch === fence.epoch && row.expires_at > 0;
}

/**
 * Inside a write transaction: throws `CONFLICT` unless `fence` still holds its lease. The row
 * stays share-locked until the caller commits, so the lease cannot change hands in between:
 * a deposed poller's offset write either commits before the new holder's acquire, or is refused.
 */
export async function assertFence(tx: Tx, fence: LeaseFence, operation: string): Promise<void> {
  refuseUnlessHeld(await readLease(tx, fence.name, "FOR SHARE"), fence, operation);
}

/**
 * {@link assertFence} and `lockChats(chatKeys)` in one statement: an ingest's first two steps,
 * one round trip fewer on the poller's critical path (each delays the next getUpdates). The
 * order of the two locks does not matter: no transaction that holds a lease's row waits for a
 * chat lock. Refused, the transaction rolls back and releases the chat locks with it.
 */
export async function assertFenceAndLockChats(tx: Tx, fence: LeaseFence, operation: string, chatKeys: readonly string[]): Promise<void> {
  const row = await tx.one<LeaseRow & { name: string | null }>(
    `SELECT l.name, l.owner, l.epoch, l.expires_at,
            (SELECT count(*) FROM (${chatLocksSql("$1", "$2")}) AS c) AS locked
     FROM (SELECT 1) AS one LEFT JOIN (SELECT name, owner, epoch, expires_at FROM leases WHERE name = $3 FOR SHARE) AS l ON true`,
    [CHAT_LOCK_CLASS, chatKeys, fence.name],
  );
  refuseUnlessHeld(row === undefined || row.name === null ? undefined : row, fence, operation);
}

function refuseUnlessHeld(row: LeaseRow | undefined, fence: LeaseFence, operation: string): void {
  if (!fenceHolds(row, fence)) {
    throw new UnlostError(
      "CONFLICT",
      `Refused ${operation}: lease "${fence.name}" epoch ${fence.epoch} of ${fence.owner} is no longer held` +
        (row === undefined ? "." : ` (now epoch ${row.epoch}, owner ${row.owner}).`),
      { details: { lease: fence.name, epoch: fence.epoch, currentEpoch: row?.epoch ?? null } },
    );
  }
}

/** {@link LeaseStore} on PostgreSQL. */
export class PgLeases implements LeaseStore {
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
  }

  /** {@inheritDoc LeaseStore.acquire} */
  async acquire(name: string, owner: string, ttlMs: number, options: { readonly now?: EpochMs } = {}): Promise<LeaseGrant> {
    requireText("lease name", name);
    requireText("owner", owner);
    requireInt("ttlMs", ttlMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("acquire lease", async (tx): Promise<LeaseGrant> => {
      const expiresAt = now + ttlMs;
      // First holder ever: the insert wins, or waits for a concurrent first holder and does nothing.
      const created = await tx.run(
        "INSERT INTO leases (name, owner, epoch, expires_at) VALUES ($1, $2, 1, $3) ON CONFLICT (name) DO NOTHING",
        [name, owner, expiresAt],
      );
      if (created === 1) return { held: true, epoch: 1, expiresAt };
      const row = await readLease(tx, name, "FOR UPDATE");
      if (row === undefined) throw new UnlostError("STORE_FAILURE", `lease "${name}" vanished while being acquired`);
      const live = row.expires_at > now;
      if (live && row.owner !== owner) return { held: false, holder: row.owner, expiresAt: row.expires_at };
      // Same owner still holding: renew in place. Otherwise a new holding with a new epoch.
      const epoch = live ? row.epoch : row.epoch + 1;
      await tx.run("UPDATE leases SET owner = $1, epoch = $2, expires_at = $3 WHERE name = $4", [owner, epoch, expiresAt, name]);
      return { held: true, epoch, expiresAt };
    });
  }

  /** {@inheritDoc LeaseStore.renew} */
  async renew(fence: LeaseFence, ttlMs: number, options: { readonly now?: EpochMs } = {}): Promise<LeaseGrant> {
    requireText("lease name", fence.name);
    requireText("owner", fence.owner);
    requireInt("ttlMs", ttlMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("renew lease", async (tx): Promise<LeaseGrant> => {
      const row = await readLease(tx, fence.name, "FOR UPDATE");
      if (row === undefined || !fenceHolds(row, fence)) {
        const live = row !== undefined && row.expires_at > now;
        return { held: false, holder: live ? row.owner : null, expiresAt: live ? row.expires_at : null };
      }
      const expiresAt = now + ttlMs;
      await tx.run("UPDATE leases SET expires_at = $1 WHERE name = $2", [expiresAt, fence.name]);
      return { held: true, epoch: row.epoch, expiresAt };
    });
  }

  /** {@inheritDoc LeaseStore.release} */
  async release(fence: LeaseFence): Promise<boolean> {
    requireText("lease name", fence.name);
    requireText("owner", fence.owner);
    requireInt("epoch", fence.epoch, 1);
    return this.db.write("release lease", async (tx) => {
      const changed = await tx.run(
        "UPDATE leases SET expires_at = 0 WHERE name = $1 AND owner = $2 AND epoch = $3 AND expires_at > 0",
        [fence.name, fence.owner, fence.epoch],
      );
      return changed === 1;
    });
  }

  /** {@inheritDoc LeaseStore.get} */
  async get(name: string): Promise<LeaseInfo | null> {
    const row = await this.db.read("read lease", (tx) => readLease(tx, name));
    return row === undefined ? null : { name: row.name, owner: row.owner, epoch: row.epoch, expiresAt: row.expires_at };
  }
}
