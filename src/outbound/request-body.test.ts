import { Readable } from "node:stream";
import { Api, InputFile, type ApiClientOptions } from "grammy";
import { describe, expect, it } from "vitest";
import { isUnlostError } from "../errors/index.js";
import { decodeRequest, parseMultipart, type SerialisedRequest } from "./request-body.js";

type Fetch = NonNullable<ApiClientOptions["fetch"]>;

/** The request grammY's own client makes for a call (its body read once, kept as bytes). */
async function serialised(call: (api: Api) => Promise<unknown>): Promise<{ url: string; init: SerialisedRequest }> {
  let seen: { url: string; init: SerialisedRequest } | undefined;
  const fetch = (async (url: string, init: { headers: unknown; body: unknown }) => {
    const body = typeof init.body === "string" ? init.body : Buffer.concat(await Readable.from(init.body as AsyncIterable<Uint8Array>).toArray() as Buffer[]);
    seen = { url: String(url), init: { headers: init.headers, body } };
    return new Response(JSON.stringify({ ok: true, result: true }));
  }) as unknown as Fetch;
  await call(new Api("1:secret", { fetch })).catch(() => undefined);
  if (seen === undefined) throw new Error("no request");
  return seen;
}

async function fileBytes(file: unknown): Promise<Buffer> {
  expect(file).toBeInstanceOf(InputFile);
  return Buffer.from((await (file as InputFile).toRaw()) as Uint8Array);
}

describe("decodeRequest: a request grammY's client made, read back into its payload", () => {
  it("reads a JSON body (grammY drops null fields)", async () => {
    const { init } = await serialised((api) => api.sendMessage(42, "hi", { reply_markup: { inline_keyboard: [[{ text: "a", callback_data: "b" }]] }, entities: [{ type: "bold", offset: 0, length: 2 }] }));
    expect(await decodeRequest(init)).toEqual({ chat_id: 42, text: "hi", reply_markup: { inline_keyboard: [[{ text: "a", callback_data: "b" }]] }, entities: [{ type: "bold", offset: 0, length: 2 }] });
  });

  it("reads a multipart body: fields typed back (text stays text), the file as an InputFile of its bytes and name", async () => {
    const bytes = Buffer.from([0, 1, 2, 13, 10, 45, 45, 255, 254]);
    const { init } = await serialised((api) => api.sendDocument("-100123", new InputFile(bytes, 'we;ird "name".bin'), {
      caption: "123", parse_mode: "HTML", message_thread_id: 7, disable_notification: true, reply_markup: { force_reply: true },
      caption_entities: [{ type: "italic", offset: 0, length: 1 }],
    }));
    const payload = await decodeRequest(init);
    expect(payload).toMatchObject({
      chat_id: -100123, caption: "123", parse_mode: "HTML", message_thread_id: 7, disable_notification: true, reply_markup: { force_reply: true },
      caption_entities: [{ type: "italic", offset: 0, length: 1 }],
    });
    expect((payload["document"] as InputFile).filename).toBe('we;ird "name".bin');
    expect(await fileBytes(payload["document"])).toEqual(bytes);
  });

  it("puts album files back into their media items (and a file without a name gets grammY's)", async () => {
    const { init } = await serialised((api) => api.sendMediaGroup(42, [
      { type: "photo", media: new InputFile(Buffer.from("one")), caption: "first" },
      { type: "video", media: new InputFile(Buffer.from("two"), "two.mp4"), thumbnail: new InputFile(Buffer.from("thumb"), "t.jpg") },
      { type: "photo", media: "AgACAgIAAxkBAAI" },
    ]));
    const payload = await decodeRequest(init);
    const media = payload["media"] as Array<Record<string, unknown>>;
    expect(media).toHaveLength(3);
    expect(await fileBytes(media[0]!["media"])).toEqual(Buffer.from("one"));
    expect((media[0]!["media"] as InputFile).filename).toBe("photo.jpg");
    expect(media[0]!["caption"]).toBe("first");
    expect(await fileBytes(media[1]!["media"])).toEqual(Buffer.from("two"));
    expect(await fileBytes(media[1]!["thumbnail"])).toEqual(Buffer.from("thumb"));
    expect(media[2]!["media"]).toBe("AgACAgIAAxkBAAI");
  });

  it("keeps as text what would not serialise back to the same text", async () => {
    const { init } = await serialised((api) => api.sendPhoto(42, new InputFile(Buffer.from("p")), {
      // Not fields of sendPhoto, but grammY sends any field: a quoted string, an exponent, a
      // number too large to be exact.
      ...({ a: '"quoted"', b: "1e3", c: "123456789012345678901", d: "null", e: "007" } as object),
    }));
    expect(await decodeRequest(init)).toMatchObject({ a: '"quoted"', b: "1e3", c: "123456789012345678901", d: "null", e: "007" });
  });

  it("refuses a multipart body cut short (grammY ends the stream early when reading a file fails)", async () => {
    const { init } = await serialised((api) => api.sendDocument(42, new InputFile(Buffer.from("abc"), "a.txt")));
    const body = init.body as Buffer;
    const cut = { ...init, body: body.subarray(0, body.length - 20) };
    await expect(decodeRequest(cut)).rejects.toSatisfy((e: unknown) => isUnlostError(e, "INVALID_ARGUMENT") && /cut short/.test(e.message));
  });

  it("refuses a body over the size limit, saying so", async () => {
    const { init } = await serialised((api) => api.sendDocument(42, new InputFile(Buffer.alloc(4096), "big.bin")));
    await expect(decodeRequest({ ...init, body: Readable.from([init.body as Buffer]) }, 1024)).rejects.toSatisfy((e: unknown) => isUnlostError(e, "INVALID_ARGUMENT") && e.details["tooLarge"] === true);
  });

  it("parses the general multipart form too: quoted names, headers in any case, an empty part", () => {
    const body = Buffer.from('preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ\r\nCONTENT-DISPOSITION: form-data; name="f"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ\r\ncontent-disposition: form-data; name="e"\r\n\r\n\r\n--XyZ--\r\n');
    expect(parseMultipart(body, "XyZ").map((p) => [p.name, p.filename, p.data.toString()])).toEqual([["a", undefined, "1"], ["f", "x.txt", "hello"], ["e", undefined, ""]]);
  });
});
