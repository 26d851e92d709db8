/**
 * Files of queued jobs live in a folder beside the store (`<data dir>/blobs/`), not in queue
 * rows and not in memory: a 50 MB upload is streamed to disk at enqueue and streamed from disk
 * when sent, and it survives restarts.
 *
 * Crash safety: a spill writes `.tmp-<id>`, fsyncs it, renames it to its final name and fsyncs
 * the folder. A crash leaves at worst a temp file (removed by {@link BlobStore.sweep}), never a
 * half-written file under a final name.
 *
 * Ownership: the folder is unlost's (created 0700, marked by a `.unlost-blobs` file), its
 * files are 0600, and {@link BlobStore.sweep} deletes only files named as unlost names its
 * blobs and temp files, never anything else put there.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { chmod, mkdir, open, readdir, rename, stat, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { InputFile } from "grammy";
import { UnlostError } from "../errors/index.js";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../shared/private-files.js";

/** What can be spilled: bytes, a Node or web stream, a file path, or a grammY InputFile. */
export type BlobSource =
  | Uint8Array
  | NodeJS.ReadableStream
  | ReadableStream<Uint8Array>
  | { readonly path: string }
  | InputFile;

/** Options of {@link BlobStore.spill}. */
export interface SpillOptions {
  /** Refuse the file when it has more bytes than this (Telegram's upload limit for its field). */
  readonly maxBytes: number;
  /** The file name Telegram shows (default: the source's own name, if it has one). */
  readonly name?: string;
  /** For error messages and details: the method and field the file was given in. */
  readonly method?: string;
  readonly field?: string;
}

/** A spilled file. */
export interface SpilledBlob {
  /** The blob's name in the folder: what a job stores to find it again. */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
  /** SHA-256 of its bytes, hex: the file's identity when a replayed send is compared (see `fingerprint.ts`). */
  readonly sha256: string;
}

/** Options of {@link BlobStore.sweep}. */
export interface SweepOptions {
  /**
   * Files younger than this are kept even if no job references them: a spill happens before
   * its job is stored, so a fresh blob may simply not be referenced yet. Default 10 minutes.
   */
  readonly graceMs?: number;
  /** The clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
}

const TEMP_PREFIX = ".tmp-";
/** The original file name is kept in the blob name after this separator, URI-encoded. */
const NAME_SEPARATOR = "~";
const MAX_ENCODED_NAME = 150;
const DEFAULT_GRACE_MS = 10 * 60_000;
/** The id part of every blob name (see `blobName`): base-36 time, then 16 hex digits. */
const ID = "[0-9a-z]{9,10}[0-9a-f]{16}";
/** A blob's name: an id, optionally `~` and the URI-encoded original name. */
const BLOB_NAME = new RegExp(`^${ID}(?:${NAME_SEPARATOR}[A-Za-z0-9\\-_.!~*'()%]+)?$`);
/** A spill's temp file. */
const TEMP_NAME = new RegExp(`^\\${TEMP_PREFIX}${ID}$`);
/** The file that marks a folder as unlost's blob folder. */
export const BLOB_FOLDER_MARKER = ".unlost-blobs";
const MARKER_TEXT = "This folder belongs to unlost: it holds the files of queued outgoing messages.\nDo not put other files here. unlost deletes only files it created (named <id> or <id>~<name>).\n";

/**
 * A folder of job files. Create it with {@link BlobStore.open}.
 *
 * @example
 * ```ts
 * const blobs = await BlobStore.open(join(dataDir, "blobs"));
 * const { name } = await blobs.spill(fs.createReadStream("report.pdf"), { maxBytes: 50 * 2 ** 20 });
 * await api.sendDocument(chatId, blobs.open(name));
 * ```
 */
export class BlobStore {
  /** Temp files of spills running in this process: never swept. */
  private readonly active = new Set<string>();

  private constructor(
    /** The folder. */
    readonly dir: string,
  ) {}

  /**
   * Opens (creating it 0700 if needed, whatever the umask) the blob folder at `dir`, and marks
   * it as unlost's with a `.unlost-blobs` file.
   */
  static async open(dir: string): Promise<BlobStore> {
    try {
      // `mkdir` returns the first folder it created: only a folder unlost created is chmod'ed.
      if ((await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })) !== undefined) await chmod(dir, PRIVATE_DIR_MODE);
      await writeFile(join(dir, BLOB_FOLDER_MARKER), MARKER_TEXT, { flag: "wx", mode: PRIVATE_FILE_MODE }).catch((error: unknown) => {
        if ((error as { code?: unknown }).code !== "EEXIST") throw error;
      });
    } catch (error) {
      throw new UnlostError("STORE_FAILURE", `cannot create the blob folder ${dir}; check that its parent exists and is writable`, { cause: error });
    }
    return new BlobStore(dir);
  }

  /**
   * Writes `file` to a new blob, counting bytes as it streams; refuses it with
   * `INVALID_ARGUMENT` (leaving nothing behind) as soon as it exceeds `maxBytes`.
   */
  async spill(file: BlobSource, options: SpillOptions): Promise<SpilledBlob> {
    const name = blobName(options.name ?? sourceName(file));
    const temp = `${TEMP_PREFIX}${name.split(NAME_SEPARATOR)[0] ?? name}`;
    const tempPath = join(this.dir, temp);
    this.active.add(temp);
    let handle: FileHandle | undefined;
    try {
      handle = await open(tempPath, "wx", PRIVATE_FILE_MODE);
      // The umask can only narrow the mode given to open; this makes it exactly 0600.
      await handle.chmod(PRIVATE_FILE_MODE);
      let size = 0;
      const hash = createHash("sha256");
      for await (const chunk of chunksOf(file)) {
        size += chunk.byteLength;
        if (size > options.maxBytes) throw tooBig(options);
        hash.update(chunk);
        await handle.write(chunk);
      }
      if (size === 0) throw new UnlostError("INVALID_ARGUMENT", `${where(options)}the file is empty; Telegram refuses empty files`, { details: details(options) });
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(tempPath, join(this.dir, name));
      await this.syncDir();
      return { name, size, sha256: hash.digest("hex") };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
      if (error instanceof UnlostError) throw error;
      throw new UnlostError("INVALID_ARGUMENT", `${where(options)}the file could not be read or stored (${String((error as { message?: unknown }).message ?? error)}); check the file or stream and the blob folder ${this.dir}`, {
        cause: error, details: details(options),
      });
    } finally {
      this.active.delete(temp);
    }
  }

  /**
   * A grammY InputFile that streams the blob from disk each time it is sent (so a retry
   * re-reads it; nothing is held in memory). Throws `INVALID_ARGUMENT` when the blob is gone.
   */
  open(name: string): InputFile {
    const path = this.pathOf(name);
    if (!existsSync(path)) {
      throw new UnlostError("INVALID_ARGUMENT", `the file ${name} of this job is missing from the blob folder ${this.dir} (removed by hand?); the message cannot be sent`, { details: { blob: name } });
    }
    // A supplier, not the path: grammY would otherwise name the upload after the blob.
    return new InputFile(() => createReadStream(path), originalName(name));
  }

  /** Deletes blobs (missing ones are ignored). */
  async remove(names: Iterable<string>): Promise<void> {
    for (const name of names) {
      await unlink(this.pathOf(name)).catch((error: unknown) => {
        if ((error as { code?: unknown }).code !== "ENOENT") throw error;
      });
    }
  }

  /**
   * Deletes orphans: temp files of spills that crashed, and blobs no job references (`keep`
   * holds the names every stored job owns). Files younger than `graceMs` are left alone, and
   * so is every file not named like a blob or temp file of unlost (the marker, anything a
   * person or another program put there). Returns the names removed.
   */
  async sweep(keep: ReadonlySet<string>, options: SweepOptions = {}): Promise<string[]> {
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    const now = (options.now ?? Date.now)();
    const removed: string[] = [];
    for (const entry of await readdir(this.dir)) {
      if (keep.has(entry) || this.active.has(entry) || !isOwnFile(entry)) continue;
      const path = join(this.dir, entry);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined || !info.isFile() || now - info.mtimeMs < graceMs) continue;
      await unlink(path).then(() => removed.push(entry), () => undefined);
    }
    return removed;
  }

  private pathOf(name: string): string {
    if (name === "" || name.startsWith(".") || /[/\\\0]/.test(name)) {
      throw new UnlostError("INVALID_ARGUMENT", `"${name}" is not a blob name; blob names come from BlobStore.spill`, { details: { blob: name } });
    }
    return join(this.dir, name);
  }

  /** Makes the rename durable: without it a power cut may forget the new directory entry. */
  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, "r").catch(() => undefined);
    if (dir === undefined) return; // Windows cannot open directories; its renames are durable enough
    await dir.sync().catch(() => undefined);
    await dir.close().catch(() => undefined);
  }
}

/** True for names unlost gives its blobs and temp files (and so may delete). */
function isOwnFile(name: string): boolean {
  return BLOB_NAME.test(name) || TEMP_NAME.test(name);
}

/** A fresh, unique, time-sortable name, with the original file name kept after `~`. */
function blobName(original: string | undefined): string {
  const id = `${Date.now().toString(36).padStart(9, "0")}${randomBytes(8).toString("hex")}`;
  if (original === undefined) return id;
  // CR/LF would break grammY's multipart headers; slashes are not part of a file name.
  let clean = basename(original.replace(/[\r\n\0]/g, " ").replace(/\\/g, "/")).trim();
  while (clean.length > 0 && encodeURIComponent(clean).length > MAX_ENCODED_NAME) clean = clean.slice(0, -1);
  return clean === "" || clean === "." || clean === ".." ? id : `${id}${NAME_SEPARATOR}${encodeURIComponent(clean)}`;
}

/** The file name Telegram shows for blob `name` (kept in the name after `~`), if it has one. */
export function originalName(name: string): string | undefined {
  const at = name.indexOf(NAME_SEPARATOR);
  if (at < 0) return undefined;
  try {
    return decodeURIComponent(name.slice(at + 1));
  } catch {
    return undefined;
  }
}

/** The name a source carries: an InputFile's filename, a path's or fs stream's base name. */
function sourceName(file: BlobSource): string | undefined {
  if (file instanceof InputFile) return file.filename;
  if (file instanceof Uint8Array) return undefined;
  const path = (file as { path?: unknown }).path;
  if (typeof path === "string") return basename(path);
  if (path instanceof Buffer) return basename(path.toString());
  return undefined;
}

/** The bytes of any source, as chunks. */
async function* chunksOf(file: BlobSource): AsyncGenerator<Uint8Array> {
  if (file instanceof Uint8Array) {
    yield file;
    return;
  }
  if (file instanceof InputFile) {
    // toRaw is grammY's own reader: paths, URLs, buffers, streams, iterables and suppliers.
    const raw = await file.toRaw();
    if (raw instanceof Uint8Array) yield raw;
    else yield* toBytes(raw);
    return;
  }
  if (isWebStream(file)) {
    const reader = file.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      // Stops the producer when the spill is refused half-way.
      await reader.cancel().catch(() => undefined);
    }
    return;
  }
  if (isPathObject(file)) {
    yield* toBytes(createReadStream(file.path));
    return;
  }
  yield* toBytes(file as AsyncIterable<unknown>);
}

async function* toBytes(source: Iterable<unknown> | AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    if (chunk instanceof Uint8Array) yield chunk;
    else if (typeof chunk === "string") yield Buffer.from(chunk);
    else throw new TypeError(`the stream produced ${typeof chunk} chunks; give a stream of bytes`);
  }
}

function isWebStream(file: unknown): file is ReadableStream<Uint8Array> {
  return typeof (file as { getReader?: unknown }).getReader === "function";
}

function isPathObject(file: unknown): file is { path: string } {
  const keys = Object.keys(file as object);
  return keys.length === 1 && keys[0] === "path" && typeof (file as { path: unknown }).path === "string";
}

function tooBig(options: SpillOptions): UnlostError {
  return new UnlostError("INVALID_ARGUMENT", `${where(options)}the file is over Telegram's ${formatBytes(options.maxBytes)} upload limit; make it smaller${options.maxBytes <= 10 * 1024 * 1024 ? " or send it as a document (50 MB)" : ""}`, {
    details: details(options),
  });
}

function where(options: SpillOptions): string {
  if (options.method === undefined) return options.field === undefined ? "" : `${options.field}: `;
  return `${options.method}${options.field === undefined ? "" : ` (${options.field})`}: `;
}

function details(options: SpillOptions): Record<string, unknown> {
  return { method: options.method, field: options.field, maxBytes: options.maxBytes };
}

function formatBytes(n: number): string {
  const mb = n / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${n} bytes`;
}
