import { Api, GrammyError, HttpError, InputFile, type ApiClientOptions } from "grammy";
import { describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import { ApiCloneRouter } from "./api-clones.js";
import type { Outbox, SendOptions } from "./outbox.js";
import type { Job } from "./types.js";
import { newUpdateScope } from "./update-scope.js";
import { validateSend } from "./validate.js";

type Fetch = NonNullable<ApiClientOptions["fetch"]>;
const TOKEN = "1:secret";

interface Sent { method: string; payload: Record<string, unknown>; options: SendOptions; fromHandler: boolean }

/** An outbox that records sends and settles each job as `settle` says. */
function fakeOutbox(settle: (sent: Sent) => Partial<Job> | Error = () => ({ state: "delivered", result: '{"message_id":1}' })): { outbox: Outbox; sent: Sent[] } {
  const sent: Sent[] = [];
  const enqueue = (fromHandler: boolean) => async (method: string, payload: Record<string, unknown>, options: SendOptions) => {
    validateSend(method, payload);
    sent.push({ method, payload, options, fromHandler });
    return [`job-${sent.length}`];
  };
  const outbox = {
    send: enqueue(false),
    // Never direct here: every send is queued, and its outcome comes from `settle`.
    sendFromHandler: async (method: string, payload: Record<string, unknown>, options: SendOptions) => {
      const [id] = await enqueue(true)(method, payload, options);
      return { kind: "queued", results: [{ id, created: true }] };
    },
    waitForOutcome: async (id: string) => {
      const outcome = settle(sent[Number(id.slice(4)) - 1] as Sent);
      if (outcome instanceof Error) throw outcome;
      const job = { id, lastError: null, failureReason: null, history: [], result: null, ...outcome } as Job;
      return job.state === "delivered" ? { state: "delivered", result: job.result } : { state: job.state, job };
    },
  };
  return { outbox: outbox as unknown as Outbox, sent };
}

/** A user's fetch that answers every call with `result` and records the URLs. */
function userFetch(result: unknown = true): { fetch: Fetch; urls: string[]; bodies: unknown[] } {
  const urls: string[] = [];
  const bodies: unknown[] = [];
  const fetch = (async (url: unknown, init?: { body?: unknown }) => {
    urls.push(String(url));
    bodies.push(init?.body);
    return new Response(JSON.stringify({ ok: true, result }));
  }) as unknown as Fetch;
  return { fetch, urls, bodies };
}

describe("ApiCloneRouter: an Api built from the options it installs", () => {
  it("sends through the outbox with the scope's next keys, shared with everything else of the scope", async () => {
    const { outbox, sent } = fakeOutbox();
    const router = new ApiCloneRouter(TOKEN, { apiRoot: "http://127.0.0.1:9" });
    const scope = newUpdateScope("7:100");
    scope.calls = 2; // ctx.reply made two sends before
    const clone = new Api(TOKEN, router.optionsFor(outbox, scope));
    const message = await clone.sendMessage(42, "hi");
    await clone.sendPhoto(42, new InputFile(Buffer.from("jpg"), "p.jpg"), { caption: "1" });
    expect(message).toEqual({ message_id: 1 });
    expect(sent.map((s) => [s.method, s.options.idempotencyKey, s.fromHandler])).toEqual([["sendMessage", "7:100:2:sendMessage", true], ["sendPhoto", "7:100:3:sendPhoto", true]]);
    expect(sent[1]!.payload).toMatchObject({ chat_id: 42, caption: "1" });
    expect(scope.calls).toBe(4);
  });

  it("keys sends made at once in the order they were made, not in the order their bodies were read", async () => {
    const { outbox, sent } = fakeOutbox();
    const scope = newUpdateScope("7:100");
    const clone = new Api(TOKEN, new ApiCloneRouter(TOKEN, undefined).optionsFor(outbox, scope));
    const slowFile = (async function* () {
      await new Promise((r) => setTimeout(r, 30));
      yield new Uint8Array([1, 2, 3]);
    })();
    await Promise.all([clone.sendDocument(42, new InputFile(slowFile, "slow.bin")), clone.sendMessage(42, "quick")]);
    expect(sent.map((s) => s.options.idempotencyKey).sort()).toEqual(["7:100:0:sendDocument", "7:100:1:sendMessage"]);
    // Calls the outbox does not take use no position (a chat action), or the same one on
    // every run (a send method without a chat: answering a button press).
    await clone.sendChatAction(42, "typing").catch(() => undefined);
    expect(scope.calls).toBe(2);
  });

  it("without a scope: durable, acknowledged, no key, behind users' replies (normal priority)", async () => {
    const { outbox, sent } = fakeOutbox();
    const api = new Api(TOKEN, { apiRoot: "http://127.0.0.1:9" });
    new ApiCloneRouter(TOKEN, api.options).install(api, async () => outbox);
    await new Api(TOKEN, api.options).sendMessage(42, "hi");
    expect(sent).toMatchObject([{ method: "sendMessage", fromHandler: false, options: { priority: "normal" } }]);
    expect(sent[0]!.options.idempotencyKey).toBeUndefined();
  });

  it("answers a send that was not delivered with grammY's GrammyError, Telegram's code, description and parameters", async () => {
    const { outbox } = fakeOutbox(() => ({
      state: "failed", failureReason: "permanent", lastError: "Bad Request: chat not found",
      history: [{ outcome: "failed", code: 429, answer: { description: "Too Many Requests: retry after 5", parameters: { retry_after: 5 } } }] as unknown as Job["history"],
    }));
    const clone = new Api(TOKEN, new ApiCloneRouter(TOKEN, undefined).optionsFor(outbox, newUpdateScope("k")));
    const error = await clone.sendMessage(42, "hi").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrammyError);
    expect(error).toMatchObject({ error_code: 429, description: "Too Many Requests: retry after 5", parameters: { retry_after: 5 }, method: "sendMessage" });
  });

  it("answers a send refused by validation as Telegram would (400), and a failure without an answer as grammY's HttpError", async () => {
    const { outbox } = fakeOutbox(() => new UnlostError("STOPPED", "the runtime was stopped"));
    const clone = new Api(TOKEN, new ApiCloneRouter(TOKEN, undefined).optionsFor(outbox));
    const refused = await clone.sendMessage(42, "").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GrammyError);
    expect(refused).toMatchObject({ error_code: 400 });
    const stopped = await clone.sendMessage(42, "hi").catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(HttpError);
    expect(String(stopped)).not.toContain("secret");
  });

  it("passes other calls through the user's fetch, apiRoot and buildUrl; the user's own options object is left alone", async () => {
    const { outbox, sent } = fakeOutbox();
    const user = userFetch({ id: 1, is_bot: true, first_name: "b", username: "b_bot" });
    const base: ApiClientOptions = { apiRoot: "http://proxy.local", fetch: user.fetch, buildUrl: (root, token, method) => `${root}/custom/bot${token}/${method}` };
    const router = new ApiCloneRouter(TOKEN, base);
    const clone = new Api(TOKEN, router.optionsFor(outbox, newUpdateScope("k")));
    expect(await clone.getMe()).toMatchObject({ username: "b_bot" });
    await clone.getFile("abc");
    // Not for the outbox: no chat (answerCallbackQuery), or a chat action.
    await clone.answerCallbackQuery("q1");
    await clone.sendChatAction(42, "typing");
    expect(user.urls).toEqual(["getMe", "getFile", "answerCallbackQuery", "sendChatAction"].map((m) => `http://proxy.local/custom/bot${TOKEN}/${m}`));
    expect(JSON.parse(user.bodies[1] as string)).toEqual({ file_id: "abc" });
    expect(sent).toEqual([]);
    expect(base.fetch).toBe(user.fetch);
  });

  it("passes a file upload that is not a send (setChatPhoto) through with its bytes", async () => {
    const { outbox } = fakeOutbox();
    const user = userFetch();
    const clone = new Api(TOKEN, new ApiCloneRouter(TOKEN, { fetch: user.fetch }).optionsFor(outbox));
    await clone.setChatPhoto(42, new InputFile(Buffer.from("PHOTO-BYTES"), "me.jpg"));
    const body = user.bodies[0] as AsyncIterable<Uint8Array>;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).toString()).toContain("PHOTO-BYTES");
    expect(user.urls[0]).toBe(`https://api.telegram.org/bot${TOKEN}/setChatPhoto`);
  });

  it("sends of an Api for another token are that bot's: passed through, never queued", async () => {
    const { outbox, sent } = fakeOutbox();
    const user = userFetch({ message_id: 9 });
    const options = new ApiCloneRouter(TOKEN, { fetch: user.fetch }).optionsFor(outbox);
    expect(await new Api("2:other", options).sendMessage(42, "hi")).toEqual({ message_id: 9 });
    expect(sent).toEqual([]);
    expect(user.urls).toEqual(["https://api.telegram.org/bot2:other/sendMessage"]);
  });

  it("answers an upload over the size limit with Telegram's 413 without reading on", async () => {
    const { outbox, sent } = fakeOutbox();
    const clone = new Api(TOKEN, new ApiCloneRouter(TOKEN, undefined).optionsFor(outbox));
    const huge = (async function* () {
      for (let i = 0; i < 60; i++) yield new Uint8Array(1024 * 1024);
    })();
    const error = await clone.sendDocument(42, new InputFile(huge, "huge.bin")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrammyError);
    expect(error).toMatchObject({ error_code: 413 });
    expect(sent).toEqual([]);
  });
});
