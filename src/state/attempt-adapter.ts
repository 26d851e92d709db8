/**
 * A grammY `StorageAdapter` over one try's {@link AttemptData}: JSON values, the try's own
 * writes read back, everything committed with the update's completion.
 *
 * @module
 */
import type { StorageAdapter } from "grammy";
import type { AttemptData } from "./attempt-data.js";
import { fromJson, toJson } from "./json.js";

/** {@link StorageAdapter} of one try; made per update by the middleware that uses it. */
export class AttemptAdapter<T> implements StorageAdapter<T> {
  constructor(private readonly data: AttemptData) {}

  /** The value as this try sees it (a fresh copy), or undefined. */
  async read(key: string): Promise<T | undefined> {
    const text = await this.data.read(key);
    return text === null ? undefined : (fromJson(key, text) as T);
  }

  /** Stages `value`; committed with the update's completion. */
  write(key: string, value: T): void {
    this.data.write(key, toJson(key, value));
  }

  /** Stages the deletion of `key`; committed with the update's completion. */
  delete(key: string): void {
    this.data.delete(key);
  }

  /** Whether `key` has a value, as this try sees it. */
  async has(key: string): Promise<boolean> {
    return (await this.data.read(key)) !== null;
  }
}
