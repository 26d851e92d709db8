/**
 * JSON records by name in a store's runtime key/value map (every backend has it), with an index
 * of the names: the map cannot list its keys, and `unlost status` must find every record on a
 * store whose bot is not running. Schedules' state and circuit breakers' last states use it.
 *
 * @module
 */
import type { StateStore } from "./state-types.js";

/** Records of one kind: `<prefix><name>` each, their names under `indexKey`. */
export class NamedRecords<T> {
  constructor(
    private readonly state: StateStore,
    private readonly prefix: string,
    private readonly indexKey: string,
  ) {}

  /** The record of `name`, or null. */
  async read(name: string): Promise<T | null> {
    const text = await this.state.getValue(this.prefix + name);
    return text === null ? null : (JSON.parse(text) as T);
  }

  /** Stores the record of `name` (see {@link remember} for the index). */
  async write(name: string, value: T): Promise<void> {
    await this.state.setValue(this.prefix + name, JSON.stringify(value));
  }

  /** Adds `name` to the index. */
  async remember(name: string): Promise<void> {
    const names = await this.names();
    if (!names.includes(name)) await this.state.setValue(this.indexKey, JSON.stringify([...names, name].sort()));
  }

  /** Every name in the index, sorted. */
  async names(): Promise<string[]> {
    const text = await this.state.getValue(this.indexKey);
    return text === null ? [] : (JSON.parse(text) as string[]);
  }
}
