import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { InputFile } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import { BLOB_FOLDER_MARKER, BlobStore } from "./blobs.js";

const MB = 1024 * 1024;
let root: string;
let blobs: BlobStore;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "unlost-blobs-"));
  blobs = await BlobStore.open(join(root, "blobs"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** The blob folder's files, without its marker. */
function files(dir: string): string[] {
  return readdirSync(dir).filter((f) => f !== BLOB_FOLDER_MARKER);
}

/** A temp file name as a spill names it (`.tmp-` and a blob id). */
const CRASHED_TEMP = `.tmp-${"0".repeat(9)}${"a".repeat(16)}`;

/** A stream of `size` bytes in 1 MB chunks, counting how much was read. */
function bigStream(size: number): { stream: Readable; read: () => number } {
  const chunk = Buffer.alloc(MB, 7);
  let produced = 0;
  const stream = Readable.from((function* () {
    while (produced < size) {
      const n = Math.min(MB, size - produced);
      produced += n;
      yield n === MB ? chunk : chunk.subarray(0, n);
    }
  })());
  return { stream, read: () => produced };
}

/** Reads an InputFile the way grammY does when it sends it. */
async function readInput(file: InputFile): Promise<Buffer> {
  const raw = await file.toRaw();
  if (raw instanceof Uint8Array) return Buffer.from(raw);
  const parts: Uint8Array[] = [];
  for await (const c of raw as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

async function refusal(p: Promise<unknown>): Promise<UnlostError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof UnlostError) return error;
    throw error;
  }
  throw new Error("the spill succeeded");
}

describe("BlobStore.spill", () => {
  it("spills every kind of source and streams it back from disk", async () => {
    const path = join(root, "report.pdf");
    writeFileSync(path, "pdf bytes");
    const sources = [
      [Buffer.from("buffer"), "buffer", undefined],
      [new Uint8Array([1, 2, 3]), "\u0001\u0002\u0003", undefined],
      [Readable.from([Buffer.from("node "), "stream"]), "node stream", undefined],
      [new Blob(["web stream"]).stream(), "web stream", undefined],
      [{ path }, "pdf bytes", "report.pdf"],
      [createReadStream(path), "pdf bytes", "report.pdf"],
      [new InputFile(Buffer.from("input file"), "отчёт 1.txt"), "input file", "отчёт 1.txt"],
      [new InputFile(path), "pdf bytes", "report.pdf"],
    ] as const;
    for (const [source, content, filename] of sources) {
      const { name, size } = await blobs.spill(source, { maxBytes: MB });
      expect(size).toBe(Buffer.byteLength(content));
      const input = blobs.open(name);
      expect(input.filename).toBe(filename);
      expect((await readInput(input)).toString()).toBe(content);
      // Each send re-reads the file: a retry works.
      expect((await readInput(input)).toString()).toBe(content);
    }
    expect(files(blobs.dir).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("accepts exactly maxBytes", async () => {
    const { stream } = bigStream(10 * MB);
    expect((await blobs.spill(stream, { maxBytes: 10 * MB })).size).toBe(10 * MB);
  });

  it("rejects a 50 MB + 1 byte stream without leftovers", async () => {
    const { stream, read } = bigStream(50 * MB + 1);
    const error = await refusal(blobs.spill(stream, { maxBytes: 50 * MB, method: "sendDocument", field: "document" }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe("sendDocument (document): the file is over Telegram's 50 MB upload limit; make it smaller");
    expect(error.details).toMatchObject({ method: "sendDocument", field: "document" });
    expect(files(blobs.dir)).toEqual([]);
    expect(read()).toBeLessThanOrEqual(51 * MB); // the source is not drained to the end
  });

  it("rejects an oversized buffer, an empty stream and a missing path without leftovers", async () => {
    expect((await refusal(blobs.spill(Buffer.alloc(11), { maxBytes: 10 }))).message).toMatch(/over Telegram's 10 bytes upload limit/);
    expect((await refusal(blobs.spill(Readable.from([]), { maxBytes: 10 }))).message).toMatch(/empty/);
    expect((await refusal(blobs.spill({ path: join(root, "nope") }, { maxBytes: 10 }))).message).toMatch(/could not be read or stored \(ENOENT/);
    const failing = new Readable({ read() { this.destroy(new Error("disk gone")); } });
    expect((await refusal(blobs.spill(failing, { maxBytes: 10 }))).message).toMatch(/disk gone/);
    expect(files(blobs.dir)).toEqual([]);
  });

  it("runs concurrent spills without mixing them up", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => blobs.spill(Readable.from([Buffer.from(`file ${i} `), Buffer.alloc(i * 1000, i)]), { maxBytes: MB })));
    expect(new Set(results.map((r) => r.name)).size).toBe(20);
    for (const [i, r] of results.entries()) {
      const bytes = readFileSync(join(blobs.dir, r.name));
      expect(bytes.subarray(0, `file ${i} `.length).toString()).toBe(`file ${i} `);
      expect(bytes.length).toBe(r.size);
    }
  });

  it("keeps odd file names safe", async () => {
    const { name } = await blobs.spill(Buffer.from("x"), { maxBytes: 10, name: "../../etc/pass\r\nwd" });
    expect(name).not.toMatch(/[/\\\r\n]/);
    expect(blobs.open(name).filename).toBe("pass  wd");
    const long = await blobs.spill(Buffer.from("x"), { maxBytes: 10, name: `${"я".repeat(300)}.txt` });
    expect(long.name.length).toBeLessThan(200);
  });
});

describe("BlobStore.open / remove / sweep", () => {
  it("refuses missing blobs and names that are not blob names", () => {
    expect(() => blobs.open("0000missing")).toThrow(/missing from the blob folder/);
    expect(() => blobs.open("../secret")).toThrow(/not a blob name/);
    expect(() => blobs.open(".tmp-x")).toThrow(/not a blob name/);
  });

  it("removes blobs, ignoring ones already gone", async () => {
    const a = await blobs.spill(Buffer.from("a"), { maxBytes: 10 });
    await blobs.remove([a.name, "0000gone"]);
    expect(files(blobs.dir)).toEqual([]);
  });

  it("sweeps orphans and crashed temp files, keeps referenced and fresh ones", async () => {
    const kept = await blobs.spill(Buffer.from("kept"), { maxBytes: 10 });
    const orphan = await blobs.spill(Buffer.from("orphan"), { maxBytes: 10 });
    const fresh = await blobs.spill(Buffer.from("fresh"), { maxBytes: 10 });
    writeFileSync(join(blobs.dir, CRASHED_TEMP), "half");
    const old = new Date(Date.now() - 3_600_000);
    for (const f of [kept.name, orphan.name, CRASHED_TEMP]) utimesSync(join(blobs.dir, f), old, old);
    const removed = await blobs.sweep(new Set([kept.name]));
    expect(removed.sort()).toEqual([CRASHED_TEMP, orphan.name].sort());
    expect(files(blobs.dir).sort()).toEqual([kept.name, fresh.name].sort());
    expect(await blobs.sweep(new Set(), { graceMs: 0 })).toHaveLength(2);
  });

  it("never sweeps a file it did not create: foreign files, however old, and its marker stay", async () => {
    const orphan = await blobs.spill(Buffer.from("orphan"), { maxBytes: 10 });
    const foreign = ["notes.txt", "backup.sqlite", ".hidden", ".tmp-editor-swap", "0000gone", `${orphan.name}.bak`, "README"];
    for (const f of foreign) writeFileSync(join(blobs.dir, f), "not unlost's");
    const old = new Date(Date.now() - 30 * 24 * 3_600_000);
    for (const f of [...foreign, orphan.name]) utimesSync(join(blobs.dir, f), old, old);
    expect(await blobs.sweep(new Set(), { graceMs: 0 })).toEqual([orphan.name]);
    expect(files(blobs.dir).sort()).toEqual([...foreign].sort());
    expect(readdirSync(blobs.dir)).toContain(BLOB_FOLDER_MARKER);
  });

  it("creates its folder 0700, marked as unlost's, and its files 0600, whatever the umask", async () => {
    const umask = process.umask(0);
    try {
      const dir = join(root, "fresh", "blobs");
      const store = await BlobStore.open(dir);
      const { name } = await store.spill(Buffer.from("private"), { maxBytes: 100 });
      const mode = (p: string): number => statSync(p).mode & 0o777;
      expect(mode(dir)).toBe(0o700);
      expect(mode(join(dir, name))).toBe(0o600);
      expect(mode(join(dir, BLOB_FOLDER_MARKER))).toBe(0o600);
      expect(readFileSync(join(dir, BLOB_FOLDER_MARKER), "utf8")).toMatch(/belongs to unlost/);
      // Opening it again keeps the marker and the blobs.
      await BlobStore.open(dir);
      expect(readdirSync(dir).sort()).toEqual([BLOB_FOLDER_MARKER, name].sort());
    } finally {
      process.umask(umask);
    }
  });

  it("never sweeps the temp file of a spill in progress", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => { release = r; });
    const slow = Readable.from((async function* () { yield Buffer.from("part 1"); await gate; yield Buffer.from("part 2"); })());
    const spilling = blobs.spill(slow, { maxBytes: 100 });
    await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(blobs.dir).some((f) => f.startsWith(".tmp-"))).toBe(true);
    expect(await blobs.sweep(new Set(), { graceMs: 0 })).toEqual([]);
    release();
    const { name } = await spilling;
    expect(readFileSync(join(blobs.dir, name), "utf8")).toBe("part 1part 2");
  });
});
