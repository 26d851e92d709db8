import { Bot, GrammyError, HttpError } from "grammy";
import { afterEach, describe, expect, it } from "vitest";
import { createEmulator, startEmulatorServer, type EmulatorServer } from "../../emulator/index.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { isUnlostError } from "../../errors/index.js";
import { GetUpdatesClient } from "./get-updates-client.js";

let server: EmulatorServer | undefined;
let client: GetUpdatesClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await server?.close();
  server = undefined;
});

async function setup(): Promise<{ emulator: ReturnType<typeof createEmulator>; sim: ReturnType<ReturnType<typeof createEmulator>["createBot"]>; bot: Bot; client: GetUpdatesClient }> {
  const emulator = createEmulator({ limits: false });
  const sim = emulator.createBot();
  server = await startEmulatorServer(emulator);
  const bot = new Bot(sim.token, { client: { apiRoot: server.url } });
  client = GetUpdatesClient.forBot(bot);
  if (client === undefined) throw new Error("a plain bot gets the lean client");
  return { emulator, sim, bot, client };
}

const signal = (): AbortSignal => new AbortController().signal;

describe("GetUpdatesClient", () => {
  it("returns the updates and their JSON text exactly as received", async () => {
    const { emulator, sim, client } = await setup();
    const user = emulator.createUser();
    user.sendText(sim, "one");
    user.sendText(sim, "two ✓ \"quoted\"");
    const { updates, json } = await client.fetch({ offset: 0, limit: 100, timeout: 0 }, signal());
    expect(updates.map((u) => u.message?.text)).toEqual(["one", 'two ✓ "quoted"']);
    expect(json).toBeDefined();
    expect(JSON.parse(json!)).toEqual(updates);
    // The offset confirms: the next call returns nothing.
    const next = await client.fetch({ offset: updates[1]!.update_id + 1, limit: 100, timeout: 0 }, signal());
    expect(next.updates).toEqual([]);
  });

  it("throws grammY's GrammyError for Telegram's refusals, with code and parameters", async () => {
    const { emulator, client } = await setup();
    emulator.faults.add({ fault: { kind: "flood", retryAfter: 7 }, methods: ["getUpdates"], times: 1 });
    const err = await client.fetch({ offset: 0, limit: 100, timeout: 0 }, signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect(err).toMatchObject({ error_code: 429, method: "getUpdates", parameters: { retry_after: 7 } });
    const wrong = GetUpdatesClient.forBot(new Bot("1:wrong", { client: { apiRoot: server!.url } }))!;
    const unauthorized = await wrong.fetch({ offset: 0, limit: 1, timeout: 0 }, signal()).catch((e: unknown) => e);
    wrong.close();
    expect(unauthorized).toMatchObject({ name: "GrammyError", error_code: 401 });
  });

  it("throws BAD_ANSWER for a 200 that is not JSON or has no list of updates (a proxy, a cut body); an error page stays an HttpError", async () => {
    const answers = [[200, '{"ok":true,"result":[{"update_id":1'], [200, '{"ok":true,"result":{"update_id":1}}'], [502, "<html>bad gateway</html>"]] as const;
    let i = 0;
    const scripted = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const [status, body] = answers[i++]!;
        res.writeHead(status, { "content-type": "application/json" }).end(body);
      });
    });
    await new Promise<void>((resolve) => scripted.listen(0, "127.0.0.1", resolve));
    const lean = GetUpdatesClient.forBot(new Bot("123:secretsecretsecret", { client: { apiRoot: `http://127.0.0.1:${(scripted.address() as AddressInfo).port}` } }))!;
    try {
      const errors = [];
      for (let n = 0; n < answers.length; n++) errors.push(await lean.fetch({ offset: 0, limit: 100, timeout: 0 }, signal()).catch((e: unknown) => e));
      expect(errors.slice(0, 2).map((e) => (isUnlostError(e) ? e.code : String(e)))).toEqual(["BAD_ANSWER", "BAD_ANSWER"]);
      expect((errors[0] as Error).message).toMatch(/not JSON/);
      expect((errors[1] as Error).message).toMatch(/not an array/);
      expect(errors[2]).toBeInstanceOf(HttpError);
      for (const e of errors) expect((e as Error).message).not.toContain("secretsecretsecret");
    } finally {
      lean.close();
      await new Promise<void>((resolve) => scripted.close(() => resolve()));
    }
  });

  it("throws HttpError for network faults and server errors without JSON, never showing the token", async () => {
    const { emulator, sim, client } = await setup();
    emulator.faults.add({ fault: { kind: "reset" }, methods: ["getUpdates"], times: 1 });
    const reset = await client.fetch({ offset: 0, limit: 100, timeout: 0 }, signal()).catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(HttpError);
    expect(String((reset as Error).message)).not.toContain(sim.token);
    emulator.faults.add({ fault: { kind: "server-error", status: 502 }, methods: ["getUpdates"], times: 1 });
    const bad = await client.fetch({ offset: 0, limit: 100, timeout: 0 }, signal()).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Error);
    expect((bad as { name: string }).name).toMatch(/GrammyError|HttpError/);
    const closedPort = GetUpdatesClient.forBot(new Bot(sim.token, { client: { apiRoot: "http://127.0.0.1:9" } }))!;
    const refused = await closedPort.fetch({ offset: 0, limit: 1, timeout: 0 }, signal()).catch((e: unknown) => e);
    closedPort.close();
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
    expect((refused as Error).message).not.toContain(sim.token);
  });

  it("aborts a long poll at once", async () => {
    const { client } = await setup();
    const controller = new AbortController();
    const started = Date.now();
    const polling = client.fetch({ offset: 0, limit: 100, timeout: 30 }, controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(await polling).toBeInstanceOf(HttpError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("is not used when getUpdates needs grammY's client: custom fetch, options or a user's transformer", () => {
    expect(GetUpdatesClient.forBot(new Bot("1:x", { client: { fetch: globalThis.fetch as never } }))).toBeUndefined();
    expect(GetUpdatesClient.forBot(new Bot("1:x", { client: { baseFetchConfig: {} } }))).toBeUndefined();
    expect(GetUpdatesClient.forBot(new Bot("1:x", { client: { environment: "test" } }))).toBeUndefined();
    const withTransformer = new Bot("1:x");
    withTransformer.api.config.use((prev, method, payload, s) => prev(method, payload, s));
    expect(GetUpdatesClient.forBot(withTransformer)).toBeUndefined();
    const plain = GetUpdatesClient.forBot(new Bot("1:x"));
    expect(plain).toBeDefined();
    plain?.close();
  });
});
