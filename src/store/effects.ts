/**
 * Effects: writes that a settle performs in the same transaction as the update's completion,
 * so "this update is done" and "its consequences are recorded" can never be separated by a
 * crash. The outbox's effect ("enqueue these sends") is how a handler's non-awaited sends are
 * enqueued exactly once, with its completion; the bot data effects are how its session and
 * conversation writes are. Every backend applies the whole list inside the
 * settle's transaction, or nothing at all (a stale settle applies none).
 *
 * @module
 */
import type { NewJob } from "../outbound/types.js";
import type { NewTask } from "./task-types.js";

/** Set a runtime key/value entry (see `StateStore.getValue`). */
export interface KvSetEffect {
  /** Discriminant. */
  readonly kind: "kv.set";
  /** The key to set. */
  readonly key: string;
  /** The value to store. */
  readonly value: string;
}

/** Delete a runtime key/value entry. */
export interface KvDeleteEffect {
  /** Discriminant. */
  readonly kind: "kv.delete";
  /** The key to delete. */
  readonly key: string;
}

/**
 * Add `by` to the integer stored under `key` (absent counts as 0). Lets a handler count its
 * completions atomically with them, e.g. for "every update was completed exactly once" checks.
 */
export interface KvIncrementEffect {
  /** Discriminant. */
  readonly kind: "kv.increment";
  /** The key whose integer value is incremented. */
  readonly key: string;
  /** How much to add; defaults to 1. */
  readonly by?: number;
}

/**
 * Enqueue outbox jobs (see `OutboxStore.enqueue`: idempotent on id and idempotency key). The
 * job ids are chosen by the caller, so it knows them without a result.
 */
export interface OutboxEnqueueEffect {
  /** Discriminant. */
  readonly kind: "outbox.enqueue";
  /** The jobs to enqueue, fully resolved. */
  readonly jobs: readonly NewJob[];
}

/**
 * Store a bot data value (see `BotDataStore`): how a handler's session and conversation writes
 * are committed exactly once, with its completion.
 */
export interface DataSetEffect {
  /** Discriminant. */
  readonly kind: "data.set";
  /** The key (with its namespace prefix). */
  readonly key: string;
  /** The value, stored byte for byte. */
  readonly value: string;
}

/** Delete a bot data value. */
export interface DataDeleteEffect {
  /** Discriminant. */
  readonly kind: "data.delete";
  /** The key (with its namespace prefix). */
  readonly key: string;
}

/**
 * Add a task (see `TaskStore.add`: idempotent on its id and key): how a handler's
 * `ctx.unlost.task(...)` is added exactly once, with its completion.
 */
export interface TaskAddEffect {
  /** Discriminant. */
  readonly kind: "task.add";
  /** The task, fully resolved (its id deterministic from the update and the call's position). */
  readonly task: NewTask;
}

/**
 * Everything a settle can do besides changing the update's state. A closed union on purpose:
 * a backend must know how to apply each kind inside its transaction, and the compiler then
 * points at every backend when a kind is added.
 */
export type StoreEffect = KvSetEffect | KvDeleteEffect | KvIncrementEffect | DataSetEffect | DataDeleteEffect | OutboxEnqueueEffect | TaskAddEffect;
