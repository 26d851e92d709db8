import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Api, GrammyError, HttpError, InputFile } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator, createFetchHandler, type Emulator, type SimBot } from "../emulator/index.js";
import { UnlostError } from "../errors/index.js";
import { classifySendError, type SendVerdict } from "./classify.js";

/** Runs a call and returns what it threw. */
async function thrown(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error("the call succeeded");
}

/** Builds a GrammyError exactly as grammY's client does for an `ok: false` answer. */
function answer(code: number, description: string, parameters: Record<string, number> = {}, payload: Record<string, unknown> = { chat_id: 1 }, method = "sendMessage"): GrammyError {
  return new GrammyError(`Call to '${method}' failed!`, { ok: false, error_code: code, description, parameters }, method, payload);
}

/** Builds an HttpError as grammY's client does when fetch throws. */
function network(error: unknown): HttpError {
  return new HttpError("Network request for 'sendMessage' failed!", error);
}

/** Node's system error shape (`code`, `errno`, `syscall`). */
function sysError(code: string, syscall: string, message = `${syscall} ${code}`): Error {
  return Object.assign(new Error(message), { code, errno: -1, syscall });
}

describe("classifySendError: Telegram's answers", () => {
  const table: Array<[string, GrammyError, Partial<SendVerdict> & { kind: SendVerdict["kind"] }]> = [
    ["429 with a chat", answer(429, "Too Many Requests: retry after 9", { retry_after: 9 }), { kind: "retry", ambiguous: false, retryAfterMs: 9000, scope: "chat" }],
    ["429 without a chat", answer(429, "Too Many Requests: retry after 2", { retry_after: 2 }, {}, "getMe"), { kind: "retry", retryAfterMs: 2000, scope: "global" }],
    ["429 without retry_after parameter", answer(429, "Too Many Requests: retry after 5"), { kind: "retry", retryAfterMs: 5000 }],
    ["429 with nothing at all", answer(429, "Too Many Requests"), { kind: "retry", retryAfterMs: 3000 }],
    ["500 restart", answer(500, "Internal Server Error: restart"), { kind: "retry", ambiguous: false, code: 500 }],
    ["502", answer(502, "Bad Gateway"), { kind: "retry", ambiguous: true }],
    ["503", answer(503, "Service Unavailable"), { kind: "retry", ambiguous: false }],
    ["504", answer(504, "Gateway Timeout"), { kind: "retry", ambiguous: true }],
    ["401", answer(401, "Unauthorized"), { kind: "unauthorized", code: 401 }],
    ["migrate", answer(400, "Bad Request: group chat was upgraded to a supergroup chat", { migrate_to_chat_id: -1001234 }), { kind: "migrate", toChatId: -1001234 }],
    ["blocked", answer(403, "Forbidden: bot was blocked by the user"), { kind: "unreachable", code: 403 }],
    ["deactivated", answer(403, "Forbidden: user is deactivated"), { kind: "unreachable" }],
    ["kicked", answer(403, "Forbidden: bot was kicked from the supergroup chat"), { kind: "unreachable" }],
    ["not a member", answer(403, "Forbidden: bot is not a member of the channel chat"), { kind: "unreachable" }],
    ["can't initiate", answer(403, "Forbidden: bot can't initiate conversation with a user"), { kind: "unreachable" }],
    ["bots", answer(403, "Forbidden: bot can't send messages to bots"), { kind: "unreachable" }],
    ["chat not found", answer(400, "Bad Request: chat not found"), { kind: "unreachable", code: 400 }],
    ["PEER_ID_INVALID", answer(400, "Bad Request: PEER_ID_INVALID"), { kind: "unreachable" }],
    ["chat not found when copying", answer(400, "Bad Request: chat not found", {}, { chat_id: 1, from_chat_id: 2 }, "copyMessage"), { kind: "permanent" }],
    ["not a member when forwarding", answer(403, "Forbidden: bot is not a member of the channel chat", {}, { chat_id: 1 }, "forwardMessage"), { kind: "permanent" }],
    ["blocked when forwarding", answer(403, "Forbidden: bot was blocked by the user", {}, { chat_id: 1 }, "forwardMessage"), { kind: "unreachable" }],
    ["too long", answer(400, "Bad Request: message is too long"), { kind: "permanent", code: 400 }],
    ["no rights", answer(400, "Bad Request: not enough rights to send text messages to the chat"), { kind: "permanent" }],
    ["forbidden other", answer(403, "Forbidden: CHAT_SEND_PHOTOS_FORBIDDEN"), { kind: "permanent", code: 403 }],
    ["404", answer(404, "Not Found: method not found"), { kind: "permanent", code: 404 }],
    ["413", answer(413, "Request Entity Too Large"), { kind: "permanent" }],
  ];
  it.each(table)("%s", (_name, error, expected) => {
    const verdict = classifySendError(error);
    expect(verdict).toMatchObject(expected);
    expect(verdict.reason).toMatch(/^Telegram answered \d{3} ".+": [a-z].+/);
  });
});

describe("classifySendError: network failures", () => {
  const table: Array<[string, unknown, boolean]> = [
    // [name, error, ambiguous]
    ["undici reset", network(new TypeError("fetch failed", { cause: sysError("ECONNRESET", "read") })), true],
    ["undici socket closed", network(new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { name: "SocketError", code: "UND_ERR_SOCKET" }) })), true],
    ["undici headers timeout", network(new TypeError("fetch failed", { cause: Object.assign(new Error("Headers Timeout Error"), { code: "UND_ERR_HEADERS_TIMEOUT" }) })), true],
    ["undici connect timeout", network(new TypeError("fetch failed", { cause: Object.assign(new Error("Connect Timeout Error"), { code: "UND_ERR_CONNECT_TIMEOUT" }) })), false],
    ["undici refused (AggregateError)", network(new TypeError("fetch failed", { cause: Object.assign(new AggregateError([sysError("ECONNREFUSED", "connect"), sysError("ECONNREFUSED", "connect")]), { code: "ECONNREFUSED" }) })), false],
    ["DNS not found", network(new TypeError("fetch failed", { cause: sysError("ENOTFOUND", "getaddrinfo") })), false],
    ["DNS try again", network(sysError("EAI_AGAIN", "getaddrinfo")), false],
    ["connect ETIMEDOUT", network(sysError("ETIMEDOUT", "connect")), false],
    ["read ETIMEDOUT", network(sysError("ETIMEDOUT", "read")), true],
    ["connect ENETUNREACH", network(sysError("ENETUNREACH", "connect")), false],
    ["EPIPE", network(sysError("EPIPE", "write")), true],
    ["node-fetch reset", network(Object.assign(new Error("request to https://api.telegram.org/bot1:x/sendMessage failed, reason: socket hang up"), { name: "FetchError", type: "system", code: "ECONNRESET", errno: "ECONNRESET" })), true],
    ["node-fetch abort", network(Object.assign(new Error("The user aborted a request."), { name: "AbortError", type: "aborted" })), true],
    ["DOMException abort", network(new DOMException("This operation was aborted", "AbortError")), true],
    ["DOMException timeout", network(new DOMException("The operation was aborted due to timeout", "TimeoutError")), true],
    ["grammY timeout", network(new Error("Request to 'sendMessage' timed out after 500 seconds")), true],
    ["proxy page", network(new SyntaxError("Unexpected token < in JSON at position 0")), true],
  ];
  it.each(table)("%s", (_name, error, ambiguous) => {
    const verdict = classifySendError(error);
    expect(verdict).toMatchObject({ kind: "retry", ambiguous });
    expect(verdict.reason).toMatch(ambiguous ? /may have been delivered/ : /never reached Telegram/);
  });

  it("trusts the caller that knows nothing was sent", () => {
    expect(classifySendError(network(sysError("ECONNRESET", "read")), { requestSent: false })).toMatchObject({ kind: "retry", ambiguous: false });
  });

  it("fails a job whose file to upload is gone, without retrying", () => {
    expect(classifySendError(network(sysError("ENOENT", "open", "ENOENT: no such file or directory, open '/x'")))).toMatchObject({ kind: "permanent" });
  });

  it("does not treat errors thrown before any request as ambiguous", () => {
    expect(classifySendError(new Error("boom"))).toMatchObject({ kind: "retry", ambiguous: false });
    expect(classifySendError(new UnlostError("INVALID_ARGUMENT", "blob x is missing"))).toMatchObject({ kind: "permanent" });
    expect(classifySendError(network(new UnlostError("STORE_FAILURE", "disk")))).toMatchObject({ kind: "retry", ambiguous: false });
  });

  it("quotes a failure's own message without the token in its URL (the reason is stored and handed to the sender)", () => {
    const url = "https://api.telegram.org/bot123456:AAHtokenSecretPart_42/sendMessage";
    const withoutCode = network(Object.assign(new Error(`request to ${url} failed, reason: the proxy closed the tunnel`), { name: "FetchError", type: "system" }));
    const before = classifySendError(new Error(`could not build ${url}`));
    for (const verdict of [classifySendError(withoutCode), before]) {
      expect(verdict.reason).toContain("bot123456:<redacted>/sendMessage");
      expect(verdict.reason).not.toContain("AAHtokenSecretPart_42");
    }
  });
});

describe("classifySendError: real errors from the emulator", () => {
  let emulator: Emulator;
  let bot: SimBot;
  let api: Api;
  beforeAll(() => {
    emulator = createEmulator({ seed: 1, limits: false });
    bot = emulator.createBot();
    api = new Api(bot.token, { apiRoot: "http://emulator", fetch: createFetchHandler(emulator) as never });
  });
  afterAll(() => emulator.shutdown());

  it("classifies Telegram's chat answers", async () => {
    const blocked = emulator.createUser();
    blocked.block(bot);
    const gone = emulator.createUser();
    gone.deactivate();
    const shy = emulator.createUser({ startedBots: false });
    const kickedFrom = emulator.createSupergroup();
    kickedFrom.addBot(bot);
    kickedFrom.kickBot(bot);
    const old = emulator.createGroup();
    old.addBot(bot);
    const upgraded = old.migrate();
    const cases: Array<[number | string, SendVerdict["kind"], RegExp]> = [
      [blocked.id, "unreachable", /blocked the bot/],
      [gone.id, "unreachable", /deleted their account/],
      [shy.id, "unreachable", /never started the bot/],
      [kickedFrom.id, "unreachable", /removed from the chat/],
      [987654321, "unreachable", /no such chat/],
      [old.id, "migrate", new RegExp(`supergroup ${upgraded.id}`)],
    ];
    for (const [chatId, kind, reason] of cases) {
      const verdict = classifySendError(await thrown(() => api.sendMessage(chatId, "hi")));
      expect(verdict.kind, String(chatId)).toBe(kind);
      expect(verdict.reason).toMatch(reason);
      if (verdict.kind === "migrate") expect(verdict.toChatId).toBe(upgraded.id);
    }
    const user = emulator.createUser();
    expect(classifySendError(await thrown(() => api.sendMessage(user.id, "x".repeat(5000))))).toMatchObject({ kind: "permanent", code: 400 });
    const wrongToken = new Api("1:wrongwrongwrong", { apiRoot: "http://emulator", fetch: createFetchHandler(emulator) as never });
    expect(classifySendError(await thrown(() => wrongToken.sendMessage(user.id, "hi")))).toMatchObject({ kind: "unauthorized" });
  });

  it("classifies injected faults", async () => {
    const user = emulator.createUser();
    const withFault = async (fault: Parameters<Emulator["faults"]["add"]>[0]["fault"], signal?: AbortSignal): Promise<SendVerdict> => {
      const id = emulator.faults.add({ fault, times: 1 });
      try {
        return classifySendError(await thrown(() => api.sendMessage(user.id, "hi", undefined, signal as Parameters<Api["sendMessage"]>[3])));
      } finally {
        emulator.faults.remove(id);
      }
    };
    expect(await withFault({ kind: "flood", retryAfter: 7 })).toMatchObject({ kind: "retry", retryAfterMs: 7000, scope: "chat", ambiguous: false });
    expect(await withFault({ kind: "server-error", status: 500 })).toMatchObject({ kind: "retry", ambiguous: false, code: 500 });
    expect(await withFault({ kind: "server-error", status: 502 })).toMatchObject({ kind: "retry", ambiguous: true });
    expect(await withFault({ kind: "reset" })).toMatchObject({ kind: "retry", ambiguous: true });
    expect(await withFault({ kind: "ambiguous" })).toMatchObject({ kind: "retry", ambiguous: true });
    expect(await withFault({ kind: "hang" }, AbortSignal.timeout(30))).toMatchObject({ kind: "retry", ambiguous: true });
    const outage = emulator.faults.add({ fault: { kind: "outage" } });
    try {
      expect(classifySendError(await thrown(() => api.sendMessage(user.id, "hi")))).toMatchObject({ kind: "retry", ambiguous: false });
    } finally {
      emulator.faults.remove(outage);
    }
  });

  it("classifies grammY's own timeout and an unreadable file", async () => {
    const user = emulator.createUser();
    const slow = new Api(bot.token, { apiRoot: "http://emulator", fetch: createFetchHandler(emulator) as never, timeoutSeconds: 0.03 });
    const id = emulator.faults.add({ fault: { kind: "hang" }, times: 1 });
    expect(classifySendError(await thrown(() => slow.sendMessage(user.id, "hi")))).toMatchObject({ kind: "retry", ambiguous: true, reason: expect.stringMatching(/timed out/) });
    emulator.faults.remove(id);
    const missing = new InputFile("/nonexistent/unlost-test-file.bin");
    expect(classifySendError(await thrown(() => api.sendDocument(user.id, missing)))).toMatchObject({ kind: "permanent", reason: expect.stringMatching(/could not be read/) });
  });
});

describe("classifySendError: real sockets", () => {
  let server: Server;
  let url: string;
  let closedUrl: string;
  beforeAll(async () => {
    // Reads the request, then drops the connection: the request reached the server.
    server = createServer((req) => { req.resume(); req.on("end", () => req.socket.destroy()); });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([["node-fetch (grammY's default)", undefined], ["undici (global fetch)", globalThis.fetch]])("%s", async (_name, fetchImpl) => {
    const client = (apiRoot: string): Api => new Api("1:abcdefghijk", { apiRoot, ...(fetchImpl === undefined ? {} : { fetch: fetchImpl as never }) });
    const dropped = classifySendError(await thrown(() => client(url).sendMessage(1, "hi")));
    expect(dropped).toMatchObject({ kind: "retry", ambiguous: true });
    const refused = classifySendError(await thrown(() => client(closedUrl).sendMessage(1, "hi")));
    expect(refused).toMatchObject({ kind: "retry", ambiguous: false, reason: expect.stringMatching(/ECONNREFUSED/) });
  });
});
