/**
 * The SQLite store scrubs secrets where text enters it: every free-text column it writes
 * (inbox retry and dead-letter errors and stacks, journal moves, outbox last errors, attempt
 * history, audit errors, unreachable reasons) goes through its `scrub`, so no byte of the
 * file or its WAL holds the token. Payloads stay verbatim (they are data, not text unlost wrote).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Scrubber } from "../../src/errors/index.js";
import { openStore, type Store } from "../../src/store/index.js";
import { newJob } from "./outbox-contract.js";
import { message, T0 } from "./store-contract.js";

const SECRET_PART = "AAHsecretPartOfTheBotToken_x42";
const TOKEN = `7000001:${SECRET_PART}`;
const WEBHOOK_SECRET = "whsec_theWebhookSecret_x42";
const quoting = `GET https://api.telegram.org/file/bot${TOKEN}/a.jpg failed (header ${WEBHOOK_SECRET}; odd ${SECRET_PART})`;

const root = mkdtempSync(join(tmpdir(), "unlost-store-secrets-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every byte of every file of the store's folder. */
function bytesOf(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((name) => readFileSync(join(dir, name))));
}

/** Writes an error quoting the secrets through every free-text path of the store. */
async function writeEverywhere(store: Store): Promise<void> {
  const lease = { owner: "w", leaseMs: 30_000 };
  await store.inbox.ingest([message(1, 10), message(2, 11)], { nextOffset: 3, now: T0 });
  const claimed = await store.inbox.claim({ ...lease, limit: 10, now: T0 });
  await store.inbox.settle(claimed[0]!.claim, { kind: "retry", at: T0, error: quoting }, { now: T0 });
  await store.inbox.settle(claimed[1]!.claim, { kind: "dead", error: quoting, stack: `Error: ${quoting}\n    at handler` }, { now: T0 });
  const journal = store.inbox.journal!;
  const { batch } = await journal.append([message(3, 12)], { owner: "w", nextOffset: 4, now: T0 });
  await journal.complete({ owner: "w", done: [], moved: [{ batch, update: message(3, 12), receivedAt: T0, attempts: 1, outcome: { kind: "dead", error: quoting, stack: quoting } }], closed: [batch], now: T0 });

  await store.outbox.enqueue([newJob("a", 20), newJob("b", 21), newJob("c", 22)], { now: T0 });
  const jobs = await store.outbox.claim({ ...lease, limit: 10, now: T0 });
  const [a, b, c] = jobs;
  await store.outbox.settle(a!.claim, { kind: "retry", at: T0, error: quoting, code: null, ambiguous: true }, { now: T0 });
  await store.outbox.settle(b!.claim, { kind: "failed", reason: "attempts", error: quoting, code: null, ambiguous: true }, { now: T0 });
  await store.outbox.settle(c!.claim, { kind: "retarget", chatId: -100_22, at: T0, error: quoting }, { now: T0 });
  await store.outbox.markUnreachable(23, quoting, T0);
}

describe("SQLite store: secrets are scrubbed where text enters", () => {
  it("keeps no secret in any free-text column, nor in any byte of the file and its WAL", async () => {
    const dir = join(root, "scrubbed");
    const store = await openStore({ path: join(dir, "unlost.sqlite"), scrub: new Scrubber([TOKEN, WEBHOOK_SECRET]).scrub });
    await writeEverywhere(store);
    const expected = "GET https://api.telegram.org/file/bot7000001:<redacted>/a.jpg failed (header <redacted>; odd <redacted>)";
    expect((await store.inbox.deadLetters.list()).items.map((d) => [d.error, d.stack])).toEqual([
      [expected, `Error: ${expected}\n    at handler`],
      [expected, expected],
    ]);
    const failed = await store.outbox.get("b");
    expect(failed?.lastError).toBe(expected);
    expect(failed?.history.map((h) => h.error)).toEqual([expected]);
    expect((await store.outbox.audit.list()).items.map((e) => e.error)).toEqual([expected]);
    expect((await store.outbox.get("a"))?.history[0]?.error).toBe(expected);
    expect((await store.outbox.listUnreachable()).map((u) => u.reason)).toEqual([expected]);
    const running = bytesOf(dir);
    await store.close();
    for (const bytes of [running, bytesOf(dir)]) {
      expect(bytes.includes(SECRET_PART)).toBe(false);
      expect(bytes.includes(WEBHOOK_SECRET)).toBe(false);
    }
  });

  it("scrubs the token pattern even when told no secret", async () => {
    const dir = join(root, "default");
    const store = await openStore({ path: join(dir, "unlost.sqlite") });
    await writeEverywhere(store);
    expect((await store.inbox.deadLetters.list()).items[0]?.error).toContain("/file/bot7000001:<redacted>/a.jpg");
    await store.close();
    expect(bytesOf(dir).includes(TOKEN)).toBe(false);
  });
});
