/**
 * Diagnosis for `bench/inbound.mjs` (env `UNLOST_BENCH_MEMORY_INBOX=1` in inbound-bot.mjs): an
 * InboxStore kept in memory only, NOT durable, with the same per-chat FIFO and one-in-flight
 * rule and the same fused claims. Running the unlost bot on it measures what unlost's runtime
 * and dispatcher cost without any SQLite work: the ceiling that no store design on the main
 * thread can beat. It still serializes each update (`JSON.stringify`, as a durable store must).
 */
import { deriveUpdateMeta } from "../dist/store/update-meta.js";

export function memoryInbox(clock = Date.now) {
  const items = new Map(); // update_id → item
  const chats = new Map(); // chat_key → { queue: item[], inflight: item | null }
  const ready = []; // chat keys whose head is claimable, oldest first (approximately)
  let readyAt = 0;
  const counts = { pending: 0, inflight: 0, done: 0, dead: 0 };
  const toClaimed = (item, owner, leaseUntil) => {
    item.token++;
    item.attempts++;
    return {
      updateId: item.id, chatKey: item.chatKey, updateType: item.updateType, messageDate: item.messageDate,
      receivedAt: item.receivedAt, raw: item.raw, update: item.update,
      claim: { updateId: item.id, owner, token: item.token, leaseUntil },
      attempt: item.attempts, recoveries: 0, recovered: false, lastError: null,
    };
  };
  const claimSome = ({ owner, limit, leaseMs }, now) => {
    const out = [];
    while (out.length < limit && readyAt < ready.length) {
      const chat = chats.get(ready[readyAt++]);
      const head = chat.queue[0];
      if (head === undefined || chat.inflight !== null) continue;
      chat.inflight = head;
      counts.pending--;
      counts.inflight++;
      out.push(toClaimed(head, owner, now + leaseMs));
    }
    if (readyAt > 4096 && readyAt * 2 > ready.length) {
      ready.splice(0, readyAt);
      readyAt = 0;
    }
    return out;
  };
  const settleOne = ({ claim, outcome }) => {
    const item = items.get(claim.updateId);
    const chat = item === undefined ? undefined : chats.get(item.chatKey);
    if (chat === undefined || chat.inflight !== item || item.token !== claim.token) return "stale";
    chat.inflight = null;
    counts.inflight--;
    if (outcome.kind === "done" || outcome.kind === "dead") {
      chat.queue.shift();
      counts[outcome.kind]++;
    } else counts.pending++;
    if (chat.queue.length > 0) ready.push(item.chatKey);
    else chats.delete(item.chatKey);
    return "settled";
  };
  const inbox = {
    async ingest(updates, options = {}) {
      const now = options.now ?? clock();
      let inserted = 0;
      for (const update of updates) {
        if (items.has(update.update_id)) continue;
        const meta = deriveUpdateMeta(update);
        const item = { id: update.update_id, ...meta, receivedAt: now, raw: JSON.stringify(update), update, token: 0, attempts: 0 };
        items.set(item.id, item);
        inserted++;
        counts.pending++;
        let chat = chats.get(item.chatKey);
        if (chat === undefined) chats.set(item.chatKey, (chat = { queue: [], inflight: null }));
        chat.queue.push(item);
        if (chat.queue.length === 1) ready.push(item.chatKey);
      }
      const result = { inserted, duplicates: updates.length - inserted };
      return options.claim === undefined ? result : { ...result, claimed: claimSome(options.claim, now) };
    },
    async claim(options) {
      return claimSome(options, options.now ?? clock());
    },
    async settleMany(requests) {
      return requests.map(settleOne);
    },
    async settleAndClaim(requests, options) {
      const results = requests.map(settleOne);
      return { results, claimed: claimSome(options.claim, options.now ?? clock()) };
    },
    async extendLease(claim, leaseMs, options = {}) {
      return { ...claim, leaseUntil: (options.now ?? clock()) + leaseMs };
    },
    async expireClaims() {
      return 0;
    },
    async inflightOwners() {
      return [];
    },
    async get() {
      return null;
    },
    async stats() {
      return { ...counts, chatsWithWork: chats.size, oldestOpenReceivedAt: null, oldestOpenAgeMs: 0 };
    },
    async prune() {
      return 0;
    },
    deadLetters: {
      list: async () => ({ items: [], nextCursor: null }),
      get: async () => null,
      retry: async () => 0,
      purge: async () => 0,
    },
  };
  return inbox;
}
