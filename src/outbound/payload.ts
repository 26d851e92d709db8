/**
 * A job's payload as stored: the call's parameters as JSON, with every file spilled to the
 * blob folder and replaced by a `{"__blob": "<name>"}` reference. Queue rows stay small, files
 * survive restarts, and a 50 MB upload is streamed from disk when it is sent.
 */
import { InputFile } from "grammy";
import { originalName, type BlobStore } from "./blobs.js";

/** A file value as a user may give it. */
export type FileValue = InputFile | Buffer | Uint8Array | NodeJS.ReadableStream | ReadableStream<Uint8Array> | { path: string };

const BLOB_KEY = "__blob";

/** True for values that are files (to be spilled), not JSON. */
export function isFileValue(value: unknown): value is FileValue {
  if (value instanceof InputFile || value instanceof Uint8Array) return true;
  if (typeof value !== "object" || value === null) return false;
  if (typeof (value as { pipe?: unknown }).pipe === "function") return true; // Node stream
  if (typeof (value as { getReader?: unknown }).getReader === "function") return true; // web stream
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "path" && typeof (value as { path: unknown }).path === "string";
}

/** A payload encoded for the store. */
export interface EncodedPayload {
  /** The JSON to store, files replaced by blob references. */
  readonly json: string;
  /** The blob names the job owns. */
  readonly blobs: string[];
  /**
   * What the send says, for its fingerprint (see `fingerprint.ts`): the parameters without
   * `chat_id`, each file as its content hash and file name (blob names are random).
   */
  readonly identity: Record<string, unknown>;
}

/**
 * Spills every file in `payload` (top level and inside media arrays) and returns the JSON to
 * store, the blob names the job owns and the send's identity. `maxBytesFor(field)` gives the
 * size limit of a field.
 */
export async function encodePayload(
  payload: Record<string, unknown>,
  blobs: BlobStore,
  maxBytesFor: (field: string) => number,
): Promise<EncodedPayload> {
  if (!needsWalk(payload)) {
    // Most sends (texts, keyboards) have no file: stored as given, with no walk that allocates
    // a promise and two copies per value (~4 KB per reply, measured by bench:echo).
    const identity: Record<string, unknown> = { ...payload };
    delete identity["chat_id"];
    // `Array.of()`, not `[]`: V8 pretenured that literal's site (see PENDING in transformer.ts).
    return { json: JSON.stringify(payload), blobs: Array.of<string>(), identity };
  }
  const owned: string[] = [];
  // Walks the value once, building the stored form and the identity side by side.
  const spill = async (value: unknown, field: string): Promise<[stored: unknown, identity: unknown]> => {
    if (isFileValue(value)) {
      const spilled = await blobs.spill(value, { maxBytes: maxBytesFor(field) });
      owned.push(spilled.name);
      return [{ [BLOB_KEY]: spilled.name }, { file: spilled.sha256, name: originalName(spilled.name) ?? null }];
    }
    if (Array.isArray(value)) {
      const pairs = await Promise.all(value.map((v) => spill(v, field)));
      return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
    }
    if (typeof value === "object" && value !== null) {
      const stored: Record<string, unknown> = {};
      const identity: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        [stored[k], identity[k]] = await spill(v, k === "media" ? String((value as { type?: unknown }).type ?? field) : field);
      }
      return [stored, identity];
    }
    return [value, value];
  };
  try {
    const out: Record<string, unknown> = {};
    const identity: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(payload)) {
      const [stored, same] = await spill(v, k);
      out[k] = stored;
      if (k !== "chat_id") identity[k] = same;
    }
    return { json: JSON.stringify(out), blobs: owned, identity };
  } catch (error) {
    await blobs.remove(owned).catch(() => undefined);
    throw error;
  }
}

/**
 * True when `value` holds a file anywhere (which must be spilled), or an object with its own
 * JSON form (`toJSON`, e.g. a Date), which the walk stores as its fields: only then is the walk
 * needed; without either, the walk's result is `JSON.stringify(value)` exactly.
 */
function needsWalk(value: unknown): boolean {
  if (isFileValue(value)) return true;
  if (Array.isArray(value)) return value.some(needsWalk);
  if (typeof value !== "object" || value === null) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return true;
  for (const key in value) {
    if (Object.hasOwn(value, key) && needsWalk((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Parses a stored payload, turning blob references back into files streamed from disk. */
export function decodePayload(json: string, blobs: BlobStore): Record<string, unknown> {
  return JSON.parse(json, (_key, value: unknown) => {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const name = (value as Record<string, unknown>)[BLOB_KEY];
      if (typeof name === "string" && Object.keys(value).length === 1) return blobs.open(name);
    }
    return value;
  }) as Record<string, unknown>;
}
