/**
 * The broadcasts page: each broadcast still in the store with its progress, and pause, resume
 * and cancel.
 *
 * @module
 */
import type { Store } from "../../store/index.js";
import { count, csrfForm, h, page, table, type PageContext } from "./html.js";

/** The broadcasts page. */
export async function broadcastsPage(ctx: PageContext, store: Store): Promise<string> {
  const list = await store.inspect.broadcasts({ limit: 100 });
  const rows = list.map((b) => {
    const done = b.delivered + b.failed + b.cancelled;
    const share = b.total === 0 ? 0 : done / b.total;
    const id = b.broadcastId;
    const status = b.remaining === 0 ? h`<span class="pill ok">finished</span>` : b.paused ? h`<span class="pill bad">paused</span>` : h`<span class="pill">sending</span>`;
    const actions = b.remaining === 0 ? "" : h`${b.paused ? csrfForm(ctx, `/broadcasts/${encodeURIComponent(id)}/resume`, "Resume") : csrfForm(ctx, `/broadcasts/${encodeURIComponent(id)}/pause`, "Pause")} ${csrfForm(ctx, `/broadcasts/${encodeURIComponent(id)}/cancel`, "Cancel", {}, true)}`;
    return [
      h`<span id="${id}"><a href="/outbox?${new URLSearchParams({ broadcast: id }).toString()}">${id}</a></span>`, status,
      h`<div class="bar" title="${Math.round(share * 100)} %"><i style="width:${(share * 100).toFixed(1)}%"></i></div>`,
      count(b.delivered), count(b.failed), count(b.cancelled), count(b.remaining), count(b.total), actions,
    ];
  });
  return page(ctx, "Broadcasts", h`<h1>Broadcasts</h1><p class="muted">Paced at Telegram's limits, behind sends of a higher priority. Pausing holds the queued messages (those being sent finish); cancelling drops them.</p>${table(["broadcast", "status", "progress", "delivered", "failed", "cancelled", "remaining", "total", ""], rows, { num: [3, 4, 5, 6, 7], empty: "No broadcasts in the store." })}`);
}
