/**
 * Who is alive. Each runtime has an instance id and holds a `worker:<id>` lease that it renews
 * with its heartbeat. Claims held by an instance that is gone (its lease ran out, or its
 * process certainly no longer exists) are expired at once, so a restart after `kill -9` picks
 * the interrupted updates up immediately instead of waiting for their claims to time out.
 *
 * "Its process no longer exists" is decided with `kill(pid, 0)` only when that pid means the
 * same process for both: the same pid space. A hostname does not say that — containers often
 * share one (`--hostname`, a restarted StatefulSet pod, `docker compose --scale`) while each
 * has its own pid namespace, and pid 7 of one is not pid 7 of the other. So the id carries the
 * pid space it was made in (a digest of the boot id and the pid namespace, on Linux), and the
 * pid shortcut is taken only when that matches this process's. Everything else — another pid
 * space, a platform without `/proc`, an id of an older unlost without the digest, an id the
 * user chose — is judged by its worker lease alone.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import type { Store } from "../store/index.js";
import type { Logger } from "./logger.js";

/** Where this process's pids are meaningful, and who it is there. */
export interface PidSpace {
  /** The host name (kept for operators and as a cheap extra check). */
  readonly host: string;
  /** This process's pid. */
  readonly pid: number;
  /**
   * A digest of the boot id and the pid namespace (16 hex digits), or undefined where they
   * cannot be read (not Linux, no `/proc`): then no pid shortcut is taken at all.
   */
  readonly scope: string | undefined;
}

/** The parts of an instance id made by {@link newInstanceId} (or by an older unlost). */
export interface InstanceIdParts {
  readonly host: string;
  readonly pid: number;
  /** The pid space's digest; undefined for ids of an older unlost (`<host>/<pid>/<random>`). */
  readonly scope: string | undefined;
}

const SCOPE = /^[0-9a-f]{16}$/;

/**
 * The digest of a pid space: the boot id (a new one each boot, so the same namespace inode on
 * two machines — the root namespace is `pid:[4026531836]` everywhere — or after a reboot does
 * not match) and the pid namespace link (`pid:[<inode>]`, unique among live namespaces of one
 * boot). Returns undefined when either is missing or empty.
 */
export function pidScope(bootId: string | undefined, pidNamespace: string | undefined): string | undefined {
  const boot = bootId?.trim() ?? "";
  const ns = pidNamespace?.trim() ?? "";
  if (boot === "" || ns === "") return undefined;
  return createHash("sha256").update(`${boot}\n${ns}`).digest("hex").slice(0, 16);
}

function readOrUndefined(read: () => string): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

let localScope: { readonly value: string | undefined } | undefined;

/**
 * This process's pid space. The boot id and pid namespace cannot change during a process's
 * life, so they are read once.
 */
export function localPidSpace(): PidSpace {
  localScope ??= {
    value: pidScope(
      readOrUndefined(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8")),
      readOrUndefined(() => readlinkSync("/proc/self/ns/pid")),
    ),
  };
  return { host: hostname(), pid: process.pid, scope: localScope.value };
}

/** A new instance id: `<host>/<pid>/<random>/<pid space digest>` (the digest only on Linux). */
export function newInstanceId(space: PidSpace = localPidSpace()): string {
  const id = `${space.host}/${space.pid}/${randomBytes(4).toString("hex")}`;
  return space.scope === undefined ? id : `${id}/${space.scope}`;
}

/**
 * Reads an instance id made by {@link newInstanceId}, or the `<host>/<pid>/<random>` of an
 * older unlost (no scope). Read from the right, so a host name with a `/` does not shift the
 * pid. Undefined for anything else (an id the user chose).
 */
export function parseInstanceId(id: string): InstanceIdParts | undefined {
  const parts = id.split("/");
  const scoped = parts.length >= 4 && SCOPE.test(parts[parts.length - 1] ?? "");
  const pidAt = parts.length - (scoped ? 3 : 2);
  if (pidAt < 1) return undefined;
  const pidText = parts[pidAt] ?? "";
  const pid = Number(pidText);
  if (!/^[1-9][0-9]*$/.test(pidText) || !Number.isSafeInteger(pid)) return undefined;
  return { host: parts.slice(0, pidAt).join("/"), pid, scope: scoped ? parts[parts.length - 1] : undefined };
}

/** The lease name that says an instance is alive. */
export const workerLeaseName = (instanceId: string): string => `worker:${instanceId}`;

/**
 * True when the process of `instanceId` certainly no longer exists: it was made in this pid
 * space (same boot, same pid namespace, same host) and its pid does not exist here. False
 * whenever that cannot be known: the id names another pid space or none (an older unlost, a
 * chosen id, a platform without `/proc`), this very process, or a pid that exists (maybe
 * reused: the lease decides then).
 */
export function processGone(instanceId: string, local: PidSpace = localPidSpace()): boolean {
  const parts = parseInstanceId(instanceId);
  if (parts === undefined || parts.scope === undefined || local.scope === undefined) return false;
  if (parts.scope !== local.scope || parts.host !== local.host || parts.pid === local.pid) return false;
  try {
    process.kill(parts.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * True when instance `owner` is gone: its process no longer exists in this pid space (see
 * {@link processGone}), or its worker lease ran out (it stopped renewing it: dead, or
 * elsewhere and unreachable). `local` is for tests.
 */
export async function instanceGone(store: Store, owner: string, now: number, local?: PidSpace): Promise<boolean> {
  if (processGone(owner, local)) return true;
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
