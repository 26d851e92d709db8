/**
 * The overview: is the bot keeping up? Readiness, the poller, charts over time (updates in,
 * handled, failed; sends, 429s; backlog and its age), the current rates against Telegram's
 * limits, the backlog, dead letters, background work (schedules, tasks, breakers) and the offline
 * windows. Refreshes itself every 10 s.
 *
 * @module
 */
import { LEASE_NAME as POLLER_LEASE } from "../../inbound/poller.js";
import type { LeaseInfo } from "../../store/index.js";
import { FLOOD_LIMITS } from "../../telegram/limits.js";
import { readiness } from "../health.js";
import type { Sample, Sampler } from "../samples.js";
import type { AdminSource } from "../source.js";
import { probeStore } from "../store-probe.js";
import { backgroundSection } from "./background.js";
import { lineChart } from "./chart.js";
import { count, duration, h, page, table, time, type Html, type PageContext } from "./html.js";

/** What the overview reads. */
export interface OverviewDeps {
  readonly source: AdminSource;
  readonly sampler: Sampler;
  readonly maxBacklogAgeMs: number;
}

const STATE_WORDS: Readonly<Record<string, string>> = {
  polling: "polling (this instance holds the poller lease)",
  standby: "standing by (another instance polls)",
  webhook: "webhook",
  starting: "starting",
  stopped: "stopped",
};

/** Who holds the poller lease (every instance sharing the store sees the same). */
function pollerLine(lease: LeaseInfo | null, now: number): Html {
  if (lease === null) return h`<p class="muted">Poller: no instance has polled this store yet (a webhook bot, or never started).</p>`;
  if (lease.expiresAt > now) return h`<p class="muted">Poller: <b>${lease.owner}</b> holds the poller lease (renewed, valid for ${duration(lease.expiresAt - now)}).</p>`;
  return h`<p class="bad">Poller: nobody holds the poller lease: it lapsed ${duration(now - lease.expiresAt)} ago (last holder ${lease.owner}); updates wait at Telegram.</p>`;
}

/** Sends per second over the samples of the last 10 s (steadier than one interval); undefined without send counts. */
function sendRate(samples: readonly Sample[]): number | undefined {
  const last = samples[samples.length - 1];
  if (last?.sendRequests == null) return undefined;
  const recent = samples.filter((s) => s.at > last.at - 10_000 && s.sendRequests !== null);
  const ms = recent.reduce((sum, s) => sum + s.intervalMs, 0);
  return ms <= 0 ? undefined : recent.reduce((sum, s) => sum + (s.sendRequests ?? 0), 0) / (ms / 1_000);
}

const card = (label: string, value: string, note?: Html | string, cls = ""): Html => h`<div class="card"><span>${label}</span><b class="${cls}">${value}</b>${note === undefined ? "" : h`<span>${note}</span>`}</div>`;

function charts(samples: readonly Sample[]): Html {
  const times = samples.map((s) => s.at);
  const pick = (f: (s: Sample) => number | null) => samples.map(f);
  return h`<div class="charts">
${lineChart("Updates", times, [
  { name: "in", color: "#3b82f6", values: pick((s) => s.received) },
  { name: "handled", color: "#16a34a", values: pick((s) => s.handled) },
  { name: "failed", color: "#dc2626", values: pick((s) => s.failed) },
], "per interval")}
${lineChart("Sends", times, [
  { name: "delivered", color: "#16a34a", values: pick((s) => s.delivered) },
  { name: "requests", color: "#6366f1", values: pick((s) => s.sendRequests), dashed: true },
  { name: "failed", color: "#dc2626", values: pick((s) => s.sendsFailed) },
  { name: "429s", color: "#f59e0b", values: pick((s) => s.responses429) },
], "per interval")}
${lineChart("Backlog", times, [
  { name: "updates waiting", color: "#3b82f6", values: pick((s) => s.backlog) },
  { name: "jobs queued", color: "#8b5cf6", values: pick((s) => s.queued) },
], "count")}
${lineChart("Oldest waiting update", times, [{ name: "age", color: "#f97316", values: pick((s) => s.oldestAgeSeconds) }], "seconds")}
</div>`;
}

/** The overview page. */
export async function overviewPage(ctx: PageContext, deps: OverviewDeps): Promise<string> {
  const { source } = deps;
  const [probe, ready] = await Promise.all([probeStore(source), readiness(source, deps.maxBacklogAgeMs)]);
  const store = source.store();
  const [windows, lastBeat, lease] = store === undefined ? [[], null, null] : await Promise.all([store.state.offlineWindows({ limit: 5 }), store.state.lastBeat(), store.leases.get(POLLER_LEASE)]);
  const runtime = source.runtime;
  const samples = deps.sampler.samples();
  const last = samples[samples.length - 1];
  const parts: Html[] = [h`<h1>Overview</h1>`];

  const state = runtime?.state();
  parts.push(h`<p>${ready.ready ? h`<span class="pill ok">ready</span>` : h`<span class="pill bad">not ready</span>`} ${runtime === undefined ? h`<span class="pill">store only (unlost dashboard): the bot's own counters are in its admin server</span>` : h`<span class="pill ${state === "polling" || state === "webhook" ? "ok" : state === "standby" ? "" : "bad"}">${STATE_WORDS[state ?? "stopped"]}</span>`} <span class="muted">last heartbeat ${time(lastBeat, ctx.now)}</span></p>`);
  if (!ready.ready) parts.push(h`<ul>${ready.reasons.map((r) => h`<li class="bad">${r}</li>`)}</ul>`);
  if (runtime?.mode !== "webhook") parts.push(pollerLine(lease, ctx.now));

  const cards: Html[] = [];
  if (probe.ok) {
    const i = probe.inbox;
    const o = probe.outbox;
    const backlog = i.pending + i.inflight;
    cards.push(card("updates waiting", count(backlog), h`${count(i.inflight)} running · ${count(i.chatsWithWork)} chats`, backlog > 0 ? "warn" : ""));
    cards.push(card("oldest waiting", backlog === 0 ? "—" : duration(i.oldestOpenAgeMs), `readiness limit ${duration(deps.maxBacklogAgeMs)}`, i.oldestOpenAgeMs > deps.maxBacklogAgeMs ? "bad" : ""));
    cards.push(card("messages queued", count(o.byState.queued), h`${count(o.byState.sending)} sending · oldest ${duration(o.oldestQueuedAgeMs)}`));
    cards.push(card("dead letters", `${count(i.dead)} / ${count(o.byState.failed)}`, h`<a href="/inbox#dead">inbox</a> / <a href="/outbox#dead">outbox</a>`, i.dead + o.byState.failed > 0 ? "bad" : "ok"));
    const perSecond = sendRate(samples) ?? o.deliveredLastMinute / 60;
    const share = perSecond / FLOOD_LIMITS.perBotPerSecond;
    cards.push(card("send rate", `${perSecond.toFixed(1)}/s`, h`of Telegram's ${FLOOD_LIMITS.perBotPerSecond}/s (${Math.round(share * 100)} %) · ${count(o.deliveredLastMinute)} delivered last minute`, share > 0.9 ? "warn" : ""));
    const r429 = last?.responses429;
    cards.push(card("429s last interval", r429 == null ? "—" : count(r429), `per chat ${FLOOD_LIMITS.perChat.perSecond}/s, groups ${FLOOD_LIMITS.perGroupPerMinute}/min`, r429 != null && r429 > 0 ? "bad" : "ok"));
  } else {
    parts.push(h`<p class="bad">${probe.reason}</p>`);
  }
  if (runtime !== undefined) {
    const c = runtime.counters();
    cards.push(card("since start", `${count(c.handled)} handled`, `${count(c.received)} in · ${count(c.failed)} failed tries · ${count(c.deadLettered)} dead · ${count(c.inFlight)} in flight`));
  }
  parts.push(h`<div class="cards">${cards}</div>`);
  parts.push(h`<h2>Over time <span class="muted">(a sample every ${duration(deps.sampler.intervalMs)}, last ${duration(deps.sampler.intervalMs * Math.max(samples.length, 1))})</span></h2>`, charts(samples));
  if (store !== undefined) parts.push(await backgroundSection(store, ctx.now));
  parts.push(h`<h2>Offline windows</h2>`, table(["from", "to", "down for"], windows.map((w) => [time(w.from, ctx.now), time(w.to, ctx.now), duration(w.durationMs)]), { empty: "No downtime recorded." }));
  parts.push(h`<p class="muted"><a href="/metrics">/metrics</a> · <a href="/api/stats">/api/stats</a> · <a href="/api/samples">/api/samples</a></p>`);
  return page(ctx, "Overview", h`${parts}`, { refreshSeconds: 10 });
}
