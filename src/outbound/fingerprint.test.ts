import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InlineKeyboard, InputFile } from "grammy";
import { afterAll, describe, expect, it } from "vitest";
import { BlobStore } from "./blobs.js";
import { canonicalJson, sendFingerprint } from "./fingerprint.js";
import { encodePayload } from "./payload.js";

const dir = mkdtempSync(join(tmpdir(), "unlost-fingerprint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MB = 2 ** 20;

async function fingerprintOf(method: string, payload: Record<string, unknown>): Promise<string> {
  const blobs = await BlobStore.open(dir);
  const { identity } = await encodePayload(payload, blobs, () => 50 * MB);
  return sendFingerprint(method, identity);
}

describe("sendFingerprint", () => {
  it("is the same for the same send, whatever the key order, and differs with text, options or method", async () => {
    const a = await fingerprintOf("sendMessage", { chat_id: 1, text: "hi", parse_mode: "HTML" });
    expect(await fingerprintOf("sendMessage", { parse_mode: "HTML", text: "hi", chat_id: 1 })).toBe(a);
    expect(await fingerprintOf("sendMessage", { chat_id: 1, text: "hi!", parse_mode: "HTML" })).not.toBe(a);
    expect(await fingerprintOf("sendMessage", { chat_id: 1, text: "hi" })).not.toBe(a);
    expect(await fingerprintOf("sendMessage", { chat_id: 1, text: "hi", parse_mode: "HTML", reply_markup: { inline_keyboard: [] } })).not.toBe(a);
    expect(await fingerprintOf("sendPhoto", { chat_id: 1, text: "hi", parse_mode: "HTML" })).not.toBe(a);
  });

  it("a send without files is stored as given (JSON.stringify) and fingerprinted like its plain-object twin; one with a file or a Date is walked", async () => {
    const blobs = await BlobStore.open(dir);
    const keyboard = new InlineKeyboard().text("yes", "y").text("no", "n");
    const payload = { chat_id: 7, text: "sure?", reply_markup: keyboard, entities: [{ type: "bold", offset: 0, length: 4 }], skip: undefined };
    const encoded = await encodePayload(payload, blobs, () => 50 * MB);
    expect(encoded.json).toBe(JSON.stringify(payload));
    expect(encoded.blobs).toEqual([]);
    const plain = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
    expect(await fingerprintOf("sendMessage", payload)).toBe(await fingerprintOf("sendMessage", plain));
    // A file anywhere, or an object with its own JSON form, takes the walk (files spilled).
    const withFile = await encodePayload({ chat_id: 7, media: [{ type: "photo", media: new InputFile(Buffer.from("img"), "a.jpg") }] }, blobs, () => 50 * MB);
    expect(withFile.blobs).toHaveLength(1);
    expect(withFile.json).toContain("__blob");
    const dated = await encodePayload({ chat_id: 7, text: "x", when: new Date(0) }, blobs, () => 50 * MB);
    expect(dated.json).toBe(JSON.stringify({ chat_id: 7, text: "x", when: {} }));
  });

  it("leaves the chat out (the store compares it), so one fingerprint serves every chat of a broadcast", async () => {
    expect(await fingerprintOf("sendMessage", { chat_id: 1, text: "news" })).toBe(await fingerprintOf("sendMessage", { chat_id: "@channel", text: "news" }));
  });

  it("knows a file by its bytes and name, not by its random blob name", async () => {
    const doc = (bytes: string, name = "a.txt") => ({ chat_id: 1, document: new InputFile(Buffer.from(bytes), name) });
    const a = await fingerprintOf("sendDocument", doc("v1"));
    expect(await fingerprintOf("sendDocument", doc("v1"))).toBe(a);
    expect(await fingerprintOf("sendDocument", { chat_id: 1, document: Buffer.from("v1") })).not.toBe(a);
    expect(await fingerprintOf("sendDocument", doc("v2"))).not.toBe(a);
    expect(await fingerprintOf("sendDocument", doc("v1", "b.txt"))).not.toBe(a);
    // Files inside an album too.
    const album = (bytes: string) => ({ chat_id: 1, media: [{ type: "photo", media: new InputFile(Buffer.from(bytes), "p.jpg") }, { type: "photo", media: "file-id-2" }] });
    expect(await fingerprintOf("sendMediaGroup", album("x"))).toBe(await fingerprintOf("sendMediaGroup", album("x")));
    expect(await fingerprintOf("sendMediaGroup", album("x"))).not.toBe(await fingerprintOf("sendMediaGroup", album("y")));
  });

  it("canonicalJson sorts keys at every depth and drops undefined like JSON", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: undefined } })).toBe('{"a":{"d":[{"x":2,"y":1}]},"b":1}');
  });
});
