#!/usr/bin/env node
/**
 * The SQLite inbox's cost per update without HTTP or handlers, to tell the store's share of
 * `bench/inbound.mjs` apart from the rest, and a floor to compare with.
 *
 * - `store, claim ≤ C`: the real store (`openStore` from dist/) driven like the runtime drives it
 *   with a no-op handler: ingest a getUpdates batch of 100 (one transaction), then claim up to C
 *   heads and settle them as done (one transaction each) until nothing is claimable.
 * - `batch log (floor)`: a sketch of a store that writes one row per getUpdates batch (the
 *   batch's JSON, with the next offset) and one row per settle flush (the done update_ids),
 *   with per-chat queues kept in memory — what "durable, but O(1) statements per batch" costs.
 *
 * Usage: node bench/inbound-store-micro.mjs [--n 30000] [--users 1000]
 * Prints one line per variant: µs per update and updates/s of one core spent on the store alone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openStore } from "../dist/index.js";

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
const N = arg("n", 30_000);
const USERS = arg("users", 1_000);
const dir = mkdtempSync(join(tmpdir(), "unlost-store-micro-"));

// Updates shaped like the emulator's (a private text message), round robin over USERS chats.
const updates = Array.from({ length: N }, (_, i) => {
  const id = 1_000_000 + (i % USERS);
  const user = { id, is_bot: false, first_name: `User${i % USERS}`, language_code: "en" };
  return {
    update_id: 500_000_000 + i,
    message: { message_id: 1 + Math.floor(i / USERS), from: user, chat: { id, first_name: user.first_name, type: "private" }, date: 1_790_000_000, text: `p ${(1_790_000_000_000 + i).toFixed(3)}` },
  };
});

async function storeVariant(claimLimit) {
  const path = join(dir, `store-${claimLimit}.sqlite`);
  const store = await openStore({ path });
  const txns = { ingest: 0, claim: 0, settle: 0 };
  const started = performance.now();
  for (let b = 0; b < N; b += 100) {
    const batch = updates.slice(b, b + 100);
    await store.inbox.ingest(batch, { nextOffset: batch[batch.length - 1].update_id + 1 });
    txns.ingest++;
    for (;;) {
      const claimed = await store.inbox.claim({ owner: "micro", limit: claimLimit, leaseMs: 30_000 });
      txns.claim++;
      if (claimed.length === 0) break;
      await store.inbox.settleMany(claimed.map((c) => ({ claim: c.claim, outcome: { kind: "done" } })));
      txns.settle++;
    }
  }
  const ms = performance.now() - started;
  const stats = await store.inbox.stats();
  await store.close();
  if (stats.done !== N) throw new Error(`store variant: ${stats.done} done of ${N}`);
  return { ms, note: `${txns.ingest} ingest, ${txns.claim} claim (incl. empty), ${txns.settle} settle transactions` };
}

function batchLogVariant(settlesPerBatch) {
  const path = join(dir, `log-${settlesPerBatch}.sqlite`);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`CREATE TABLE batches (first_id INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL, raw TEXT NOT NULL);
           CREATE TABLE done (id INTEGER PRIMARY KEY, ids TEXT NOT NULL)`);
  const insertBatch = db.prepare("INSERT INTO batches (first_id, next_offset, raw) VALUES (?, ?, ?)");
  const insertDone = db.prepare("INSERT INTO done (ids) VALUES (?)");
  const ingest = db.transaction((first, next, raw) => insertBatch.run(first, next, raw));
  const settle = db.transaction((ids) => insertDone.run(JSON.stringify(ids)));
  const queues = new Map(); // chat → update ids, in memory
  const started = performance.now();
  for (let b = 0; b < N; b += 100) {
    const batch = updates.slice(b, b + 100);
    ingest(batch[0].update_id, batch[batch.length - 1].update_id + 1, JSON.stringify(batch));
    for (const u of batch) {
      const q = queues.get(u.message.chat.id) ?? [];
      q.push(u.update_id);
      queues.set(u.message.chat.id, q);
    }
    const ids = batch.map((u) => u.update_id);
    const per = Math.ceil(ids.length / settlesPerBatch);
    for (let i = 0; i < ids.length; i += per) settle(ids.slice(i, i + per));
  }
  const ms = performance.now() - started;
  db.close();
  return { ms, note: `${N / 100} batch rows, ${(N / 100) * settlesPerBatch} completion rows` };
}

const print = (label, { ms, note }) =>
  console.log(`${label.padEnd(34)} ${((1000 * ms) / N).toFixed(1).padStart(6)} µs/update  ${Math.round(N / (ms / 1000)).toLocaleString("en-US").padStart(8)} updates/s of one core  (${note})`);

console.log(`${N} updates over ${USERS} chats, SQLite file in ${dir} (WAL, synchronous=NORMAL)`);
for (const c of [32, 100, 500]) print(`store, claim ≤ ${c}`, await storeVariant(c));
for (const s of [1, 3]) print(`batch log (floor), ${s} settle/batch`, batchLogVariant(s));
rmSync(dir, { recursive: true, force: true });
