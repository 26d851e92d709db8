import { connect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ maxBodyBytes: 1024 * 1024 });
});
afterEach(async () => {
  // Whatever was thrown at it, the emulator still answers and hit no internal error.
  expect((await h.call("getMe")).status).toBe(200);
  await h.close();
  expect(h.emulator.internalErrors).toEqual([]);
});

const post = (url: string, body: BodyInit, contentType: string): Promise<Response> =>
  fetch(url, { method: "POST", headers: { "content-type": contentType }, body });

describe("bad input to the emulator", () => {
  it("answers malformed JSON with 400", async () => {
    const res = await post(`${h.server.url}/bot${h.bot.token}/sendMessage`, "{\"chat_id\": 1, ", "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ ok: false, error_code: 400, description: "Bad Request: can't parse JSON object" });
    const notObject = await post(`${h.server.url}/bot${h.bot.token}/sendMessage`, "[1,2]", "application/json");
    expect(notObject.status).toBe(400);
  });

  it("answers wrong types with 400 and says which field", async () => {
    const alice = h.emulator.createUser();
    expect((await h.call("sendMessage", { chat_id: { id: 1 }, text: "x" })).body).toMatchObject({ error_code: 400, description: "Bad Request: chat not found" });
    expect((await h.call("sendMessage", { chat_id: alice.id, text: { nested: true } })).body.description).toBe('Bad Request: field "text" must be of type String');
    expect((await h.call("getUpdates", { limit: "many" })).body.description).toBe('Bad Request: field "limit" must be of type Integer');
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "x", reply_markup: "{not json" })).body.description).toBe("Bad Request: can't parse reply keyboard markup JSON object");
    expect((await h.call("sendMessage", { chat_id: alice.id, text: "x", reply_markup: { inline_keyboard: "no" } })).status).toBe(400);
    expect((await h.call("sendMessage", { text: "no chat" })).body.description).toBe("Bad Request: chat_id is empty");
    expect((await h.call("getUpdates", { allowed_updates: "message" })).status).toBe(400);
    expect((await h.call("sendLocation", { chat_id: alice.id, latitude: "north", longitude: 1 })).status).toBe(400);
    expect(h.bot.record.size).toBe(0);
  });

  it("answers bodies over the size cap with 413 without reading them into memory", async () => {
    const res = await post(`${h.server.url}/bot${h.bot.token}/sendMessage`, "x".repeat(2 * 1024 * 1024), "application/json");
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ ok: false, error_code: 413, description: "Request Entity Too Large" });
  });

  it("answers an unsupported content type and a broken multipart body with 400", async () => {
    expect((await post(`${h.server.url}/bot${h.bot.token}/getMe`, "<xml/>", "application/xml")).status).toBe(400);
    const broken = await post(`${h.server.url}/bot${h.bot.token}/getMe`, "--b\r\nno headers end", "multipart/form-data; boundary=b");
    expect(broken.status).toBe(400);
    const noBoundary = await post(`${h.server.url}/bot${h.bot.token}/getMe`, "x", "multipart/form-data");
    expect(noBoundary.status).toBe(400);
  });

  it("answers unknown paths with 404 and survives garbage on the socket", async () => {
    expect((await fetch(`${h.server.url}/nothing`)).status).toBe(404);
    expect((await fetch(`${h.server.url}/bot${h.bot.token}/`)).status).toBe(404);
    await new Promise<void>((resolve) => {
      const socket = connect(h.server.port, "127.0.0.1", () => socket.end("\x00\x01 NOT HTTP AT ALL\r\n\r\n"));
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
      socket.resume();
    });
  });

  it("answers bad control requests with 400 and a reason", async () => {
    const res = await fetch(`${h.server.url}/_emulator/clock/advance`, { method: "POST", body: "{oops" });
    expect(res.status).toBe(400);
    const wrongType = await fetch(`${h.server.url}/_emulator/clock/advance`, { method: "POST", body: JSON.stringify({ ms: "soon" }) });
    expect(await wrongType.json()).toEqual({ ok: false, error: '"ms" must be a number' });
  });
});
