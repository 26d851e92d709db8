/**
 * Reading and validating what an inbox journal stores and is asked to write, the same for every
 * backend: a batch's stored updates, and a completion (done, moved and closed batches, effects)
 * checked and prepared before the backend's transaction.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { StoreEffect } from "./effects.js";
import { validateEffects } from "./effects-validate.js";
import type { JournalCompletion, JournalMove } from "./journal-types.js";
import { deriveUpdateMeta, requireUpdateId, type RawUpdate } from "./update-meta.js";
import { MAX_ERROR_LENGTH, MAX_STACK_LENGTH, requireInt, requireTime, invalid } from "./validate.js";

/** How a backend bounds and scrubs free text it stores (errors, stacks). */
export interface FreeText {
  freeText(text: string, max: number): string;
}

/** Parses a batch's stored updates; JSON that does not parse means the store was tampered with. */
export function parseBatch(json: string, batch: number): RawUpdate[] {
  try {
    return JSON.parse(json) as RawUpdate[];
  } catch (err) {
    throw new UnlostError("STORE_FAILURE", `The stored JSON of journal batch ${batch} does not parse; the store is damaged.`, {
      cause: err,
    });
  }
}

/** A moved update, validated and prepared before the transaction. */
export interface PreparedMove {
  /** The batch it leaves. */
  readonly batch: number;
  readonly updateId: number;
  readonly chatKey: string;
  readonly updateType: string;
  readonly messageDate: number | null;
  readonly raw: string;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly dead: boolean;
  readonly dueAt: number;
  readonly error: string;
  readonly stack: string | null;
}

/** Validates a moved update and prepares its row (before the transaction). */
export function prepareMove(text: FreeText, move: JournalMove, now: number): PreparedMove {
  if (typeof move !== "object" || move === null) invalid("moved[] must be objects.");
  const batch = requireInt("moved.batch", move.batch, 1);
  const updateId = requireUpdateId(move.update);
  const receivedAt = requireTime("moved.receivedAt", move.receivedAt);
  const attempts = requireInt("moved.attempts", move.attempts, 0);
  const outcome = move.outcome;
  if (outcome?.kind !== "retry" && outcome?.kind !== "dead") {
    invalid(`moved.outcome must be { kind: "retry" } or { kind: "dead" }; got ${JSON.stringify(outcome)}.`);
  }
  if (typeof outcome.error !== "string") invalid(`moved.outcome.error must be a string.`);
  const dead = outcome.kind === "dead";
  const stack = dead ? outcome.stack : null;
  if (stack !== undefined && stack !== null && typeof stack !== "string") invalid("moved.outcome.stack must be a string or null.");
  return {
    batch,
    updateId,
    ...deriveUpdateMeta(move.update),
    raw: JSON.stringify(move.update),
    receivedAt,
    attempts,
    dead,
    dueAt: dead ? now : requireTime("moved.outcome.at", outcome.at),
    error: text.freeText(outcome.error, MAX_ERROR_LENGTH),
    stack: stack == null ? null : text.freeText(stack, MAX_STACK_LENGTH),
  };
}

/** A validated completion, ready to write. */
export interface PreparedCompletion {
  readonly moved: PreparedMove[];
  readonly effects: readonly StoreEffect[];
  readonly closed: ReadonlySet<number>;
  /** The update_ids each batch settles (done and moved). */
  readonly settles: ReadonlyMap<number, number[]>;
  /** The update_ids each batch hands to the rows (moved), for batches that move any. */
  readonly movedIds: ReadonlyMap<number, number[]>;
  /** Every batch referenced. */
  readonly batches: readonly number[];
  readonly doneCount: number;
}

/** Validates a completion (before any write); undefined when it has nothing to write. */
export function prepareCompletion(text: FreeText, completion: Omit<JournalCompletion, "owner" | "now">, now: number): PreparedCompletion | undefined {
  if (!Array.isArray(completion.done)) invalid("done must be an array.");
  const effects = completion.effects ?? [];
  validateEffects(effects);
  const moved = (completion.moved ?? []).map((m) => prepareMove(text, m, now));
  const closed = new Set((completion.closed ?? []).map((b) => requireInt("closed[]", b, 1)));
  const settles = new Map<number, number[]>();
  const add = (batch: number, id: number): void => {
    const list = settles.get(batch);
    if (list === undefined) settles.set(batch, [id]);
    else list.push(id);
  };
  for (const d of completion.done) {
    add(requireInt("done.batch", d?.batch, 1), requireInt("done.updateId", d.updateId, 0));
  }
  const movedIds = new Map<number, number[]>();
  (completion.moved ?? []).forEach((m, i) => {
    const id = moved[i]!.updateId;
    add(m.batch, id);
    const list = movedIds.get(m.batch);
    if (list === undefined) movedIds.set(m.batch, [id]);
    else list.push(id);
  });
  const batches = [...new Set([...settles.keys(), ...closed])];
  if (batches.length === 0 && effects.length === 0) return undefined;
  return { moved, effects, closed, settles, movedIds, batches, doneCount: completion.done.length };
}

