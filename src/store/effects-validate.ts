/**
 * The checks every backend makes on settle effects before any write (so a malformed one aborts
 * the batch before it starts).
 *
 * @module
 */
import { requireDataKey, requireDataValue } from "./data-validate.js";
import type { StoreEffect } from "./effects.js";
import { validateNewJob } from "./outbox-validate.js";
import { validateNewTask } from "./task-validate.js";
import { invalid } from "./validate.js";

/** Checks effects before any write, so a malformed one aborts the batch before it starts. */
export function validateEffects(effects: readonly StoreEffect[]): void {
  for (const effect of effects) {
    switch (effect?.kind) {
      case "kv.set":
      case "kv.delete":
      case "kv.increment":
        if (typeof effect.key !== "string" || effect.key.length === 0) invalid(`Effect ${effect.kind} needs a non-empty string key.`);
        if (effect.kind === "kv.increment" && effect.by !== undefined && !Number.isSafeInteger(effect.by)) {
          invalid(`Effect kv.increment needs an integer "by"; got ${effect.by}.`);
        }
        break;
      case "data.set":
        requireDataValue(requireDataKey(effect.key), effect.value);
        break;
      case "data.delete":
        requireDataKey(effect.key);
        break;
      case "outbox.enqueue":
        if (!Array.isArray(effect.jobs)) invalid("Effect outbox.enqueue needs an array of jobs.");
        for (const job of effect.jobs) validateNewJob(job);
        break;
      case "task.add":
        validateNewTask(effect.task);
        break;
      default:
        invalid(`Unknown store effect: ${JSON.stringify(effect)}`);
    }
  }
}
