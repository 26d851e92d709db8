/**
 * Named leases on SQLite. A row is kept after release (expired), so epochs never repeat.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { LeaseFence, LeaseGrant, LeaseInfo, LeaseStore } from "../lease-types.js";
import { requireInt, requireText, requireTime } from "../validate.js";
import type { SqliteDatabase } from "./database.js";

interface LeaseRow {
  name: string;
  owner: string;
  epoch: number;
  expires_at: number;
}

function readLease(db: SqliteDatabase, name: string): LeaseRow | undefined {
  return db.statement("SELECT name, owner, epoch, expires_at FROM leases WHERE name = ?").get(name) as LeaseRow | undefined;
}

/** True while `fence` is the lease's latest holding (expired but not taken over counts). */
function fenceHolds(row: LeaseRow | undefined, fence: LeaseFence): boolean {
  return row !== undefined && row.owner === fence.owner && row.epoch === fence.epoch && row.expires_at > 0;
}

/**
 * Inside a write transaction: throws `CONFLICT` unless `fence` still holds its lease. Used by
 * writes that only the lease holder may make (the poller's ingest with its offset).
 */
export function assertFence(db: SqliteDatabase, fence: LeaseFence, operation: string): void {
  const row = readLease(db, fence.name);
  if (!fenceHolds(row, fence)) {
    throw new UnlostError(
      "CONFLICT",
      `Refused ${operation}: lease "${fence.name}" epoch ${fence.epoch} of ${fence.owner} is no longer held` +
        (row === undefined ? "." : ` (now epoch ${row.epoch}, owner ${row.owner}).`),
      { details: { lease: fence.name, epoch: fence.epoch, currentEpoch: row?.epoch ?? null } },
    );
  }
}

/** {@link LeaseStore} on SQLite. */
export class SqliteLeases implements LeaseStore {
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** {@inheritDoc LeaseStore.acquire} */
  async acquire(name: string, owner: string, ttlMs: number, options: { readonly now?: EpochMs } = {}): Promise<LeaseGrant> {
    requireText("lease name", name);
    requireText("owner", owner);
    requireInt("ttlMs", ttlMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("acquire lease", (): LeaseGrant => {
      const row = readLease(db, name);
      const expiresAt = now + ttlMs;
      if (row === undefined) {
        db.statement("INSERT INTO leases (name, owner, epoch, expires_at) VALUES (?, ?, 1, ?)").run(name, owner, expiresAt);
        return { held: true, epoch: 1, expiresAt };
      }
      const live = row.expires_at > now;
      if (live && row.owner !== owner) return { held: false, holder: row.owner, expiresAt: row.expires_at };
      // Same owner still holding: renew in place. Otherwise a new holding with a new epoch.
      const epoch = live ? row.epoch : row.epoch + 1;
      db.statement("UPDATE leases SET owner = ?, epoch = ?, expires_at = ? WHERE name = ?").run(owner, epoch, expiresAt, name);
      return { held: true, epoch, expiresAt };
    });
  }

  /** {@inheritDoc LeaseStore.renew} */
  async renew(fence: LeaseFence, ttlMs: number, options: { readonly now?: EpochMs } = {}): Promise<LeaseGrant> {
    requireText("lease name", fence.name);
    requireText("owner", fence.owner);
    requireInt("ttlMs", ttlMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("renew lease", (): LeaseGrant => {
      const row = readLease(db, fence.name);
      if (row === undefined || !fenceHolds(row, fence)) {
        const live = row !== undefined && row.expires_at > now;
        return { held: false, holder: live ? row.owner : null, expiresAt: live ? row.expires_at : null };
      }
      const expiresAt = now + ttlMs;
      db.statement("UPDATE leases SET expires_at = ? WHERE name = ?").run(expiresAt, fence.name);
      return { held: true, epoch: row.epoch, expiresAt };
    });
  }

  /** {@inheritDoc LeaseStore.release} */
  async release(fence: LeaseFence): Promise<boolean> {
    requireText("lease name", fence.name);
    requireText("owner", fence.owner);
    requireInt("epoch", fence.epoch, 1);
    const db = this.db;
    return db.write("release lease", () => {
      const { changes } = db
        .statement("UPDATE leases SET expires_at = 0 WHERE name = ? AND owner = ? AND epoch = ? AND expires_at > 0")
        .run(fence.name, fence.owner, fence.epoch);
      return changes === 1;
    });
  }

  /** {@inheritDoc LeaseStore.get} */
  async get(name: string): Promise<LeaseInfo | null> {
    const row = this.db.read("read lease", () => readLease(this.db, name));
    return row === undefined ? null : { name: row.name, owner: row.owner, epoch: row.epoch, expiresAt: row.expires_at };
  }
}
