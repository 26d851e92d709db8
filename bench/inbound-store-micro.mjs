#!/usr/bin/env node
/**
 * The SQLite inbox's cost per update without HTTP or handlers, to tell the store's share of
 * `bench/inbound.mjs` apart from the rest, and a floor to compare with.
 *
 * - `store, claim ≤ C`: the real store (`openStore` from dist/) driven like the runtime drives it
 *   with a no-op handler: ingest a getUpdates batch of 100 (one transaction), then claim up to C
 *   heads and settle them as done (one transaction each) until nothing is claimable.
 * - `handoff sketch` (raw SQL on the store's own schema, migration 1): what the same rows cost
 *   without a claim transaction. Ingest inserts an update as already claimed ('inflight', this
 *   owner, a lease) when its chat has no open head, and the dispatcher would get the parsed
 *   update from the poller in memory (no UPDATE…RETURNING raw, no JSON.parse); settling marks
 *   done and, in the same transaction, claims the chat's next pending update. `narrow` also
 *   moves `raw` to its own table, so state changes do not rewrite the ~400-byte row.
 * - `batch log (floor)`: a sketch of a store that writes one row per getUpdates batch (the
 *   batch's JSON, with the next offset) and one row per settle flush (the done update_ids),
 *   with per-chat queues kept in memory — what "durable, but O(1) statements per batch" costs.
 *
 * Usage: node bench/inbound-store-micro.mjs [--n 30000] [--users 1000] [--repeat 3]
 * Runs the variants interleaved `--repeat` times and prints, per variant, the minimum (the best
 * estimate of the CPU cost on a shared machine) and the median µs per update.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openStore } from "../dist/index.js";
import { MIGRATIONS } from "../dist/store/sqlite/schema.js";

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
const N = arg("n", 30_000);
const USERS = arg("users", 1_000);
const dir = mkdtempSync(join(tmpdir(), "unlost-store-micro-"));
let seq = 0; // a fresh file per run

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
  const path = join(dir, `store-${claimLimit}-${seq++}.sqlite`);
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

/** Ingest with claim-on-insert, settle with claim-next; `narrow` keeps raw in its own table. */
function handoffVariant(settleSize, narrow) {
  const path = join(dir, `handoff-${settleSize}-${narrow}-${seq++}.sqlite`);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("temp_store = MEMORY");
  db.pragma("cache_size = -16000");
  let schema = MIGRATIONS[0].sql;
  if (narrow) {
    schema = schema.replace(/\n\s*raw\s+TEXT\s+NOT NULL,/, "\n");
    schema += "CREATE TABLE inbox_raw (update_id INTEGER PRIMARY KEY, raw TEXT NOT NULL);";
  }
  db.exec(schema);
  const owner = "micro";
  const insertRaw = narrow ? db.prepare("INSERT INTO inbox_raw (update_id, raw) VALUES (?, ?) ON CONFLICT DO NOTHING") : undefined;
  const insert = db.prepare(
    narrow
      ? `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, state, due_at, lease_owner, lease_until, lease_token, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING`
      : `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, state, due_at, lease_owner, lease_until, lease_token, attempts, raw)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING`,
  );
  const newHead = db.prepare("INSERT INTO chat_queue (chat_key, head_id, ready_at) VALUES (?, ?, ?) ON CONFLICT (chat_key) DO NOTHING");
  const offset = db.prepare("UPDATE runtime SET poll_offset = ? WHERE id = 1");
  const done = db.prepare(
    "UPDATE inbox SET state = 'done', settled_at = ?, lease_until = NULL WHERE update_id = ? AND state = 'inflight' AND lease_owner = ? AND lease_token = ? RETURNING chat_key",
  );
  const nextOpen = db.prepare("SELECT update_id FROM inbox WHERE chat_key = ? AND state IN ('pending', 'inflight') ORDER BY update_id LIMIT 1");
  const claimNext = db.prepare(
    "UPDATE inbox SET state = 'inflight', lease_owner = ?, lease_until = ?, lease_token = lease_token + 1, attempts = attempts + 1 WHERE update_id = ? AND state = 'pending'",
  );
  const moveHead = db.prepare("UPDATE chat_queue SET head_id = ?, ready_at = ? WHERE chat_key = ?");
  const dropHead = db.prepare("DELETE FROM chat_queue WHERE chat_key = ?");
  const handedOff = []; // { id, chat } claimed in memory, to settle
  const ingest = db.transaction((batch, now) => {
    const leaseUntil = now + 30_000;
    for (const u of batch) {
      const chat = String(u.message.chat.id);
      const head = newHead.run(chat, u.update_id, leaseUntil).changes === 1; // the chat had no open head
      const raw = JSON.stringify(u);
      const values = [u.update_id, chat, "message", u.message.date, now, head ? "inflight" : "pending", now, head ? owner : null, head ? leaseUntil : null, head ? 1 : 0, head ? 1 : 0];
      if (narrow) {
        insert.run(...values);
        insertRaw.run(u.update_id, raw);
      } else insert.run(...values, raw);
      if (head) handedOff.push({ id: u.update_id, chat, token: 1 });
    }
    offset.run(batch[batch.length - 1].update_id + 1);
  });
  const settle = db.transaction((items, now) => {
    const leaseUntil = now + 30_000;
    for (const item of items) {
      const row = done.get(now, item.id, owner, item.token);
      if (row === undefined) throw new Error(`handoff: ${item.id} was not in flight`);
      const next = nextOpen.get(item.chat);
      if (next === undefined) dropHead.run(item.chat);
      else {
        claimNext.run(owner, leaseUntil, next.update_id);
        moveHead.run(next.update_id, leaseUntil, item.chat);
        handedOff.push({ id: next.update_id, chat: item.chat, token: 1 });
      }
    }
  });
  const started = performance.now();
  let txns = 0;
  for (let b = 0; b < N; b += 100) {
    ingest(updates.slice(b, b + 100), Date.now());
    txns++;
    while (handedOff.length > 0) {
      settle(handedOff.splice(0, settleSize), Date.now());
      txns++;
    }
  }
  const ms = performance.now() - started;
  const doneCount = db.prepare("SELECT count(*) AS n FROM inbox WHERE state = 'done'").get().n;
  db.close();
  if (doneCount !== N) throw new Error(`handoff variant: ${doneCount} done of ${N}`);
  return { ms, note: `${txns} transactions, settle ≤ ${settleSize}` };
}

function batchLogVariant(settlesPerBatch) {
  const path = join(dir, `log-${settlesPerBatch}-${seq++}.sqlite`);
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

const REPEAT = arg("repeat", 3);
const variants = [
  ...[32, 100, 500].map((c) => [`store, claim ≤ ${c}`, () => storeVariant(c)]),
  ...[[32, false], [100, false], [32, true]].map(([size, narrow]) => [`handoff sketch, settle ≤ ${size}${narrow ? ", narrow" : ""}`, () => handoffVariant(size, narrow)]),
  ...[1, 3].map((k) => [`batch log (floor), ${k} settle/batch`, () => batchLogVariant(k)]),
];
console.log(`${N} updates over ${USERS} chats, SQLite file in ${dir} (WAL, synchronous=NORMAL); ${REPEAT} interleaved repeats, min and median`);
const runs = new Map(variants.map(([label]) => [label, []]));
let note = new Map();
for (let r = 0; r < REPEAT; r++) {
  for (const [label, fn] of variants) {
    const out = await fn();
    runs.get(label).push(out.ms);
    note.set(label, out.note);
  }
}
for (const [label, list] of runs) {
  const sorted = [...list].sort((a, b) => a - b);
  const us = (ms) => ((1000 * ms) / N).toFixed(1).padStart(5);
  const min = sorted[0];
  console.log(`${label.padEnd(36)} min ${us(min)} µs/update (${Math.round(N / (min / 1000)).toLocaleString("en-US").padStart(7)} updates/s of one core), median ${us(sorted[Math.floor(sorted.length / 2)])} µs  (${note.get(label)})`);
}
rmSync(dir, { recursive: true, force: true });
