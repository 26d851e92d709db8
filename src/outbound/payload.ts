/**
 * A job's payload as stored: the call's parameters as JSON, with every file spilled to the
 * blob folder and replaced by a `{"__blob": "<name>"}` reference. Queue rows stay small, files
 * survive restarts, and a 50 MB upload is streamed from disk when it is sent.
 */
import { InputFile } from "grammy";
import type { BlobStore } from "./blobs.js";

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

/**
 * Spills every file in `payload` (top level and inside media arrays) and returns the JSON to
 * store and the blob names the job owns. `maxBytesFor(field)` gives the size limit of a field.
 */
export async function encodePayload(
  payload: Record<string, unknown>,
  blobs: BlobStore,
  maxBytesFor: (field: string) => number,
): Promise<{ json: string; blobs: string[] }> {
  const owned: string[] = [];
  const spill = async (value: unknown, field: string): Promise<unknown> => {
    if (isFileValue(value)) {
      const { name } = await blobs.spill(value, { maxBytes: maxBytesFor(field) });
      owned.push(name);
      return { [BLOB_KEY]: name };
    }
    if (Array.isArray(value)) return Promise.all(value.map((v) => spill(v, field)));
    if (typeof value === "object" && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = await spill(v, k === "media" ? String((value as { type?: unknown }).type ?? field) : field);
      return out;
    }
    return value;
  };
  try {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(payload)) out[k] = await spill(v, k);
    return { json: JSON.stringify(out), blobs: owned };
  } catch (error) {
    await blobs.remove(owned).catch(() => undefined);
    throw error;
  }
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
