/**
 * Line charts as inline SVG, drawn on the server: no script, no library, nothing loaded from
 * elsewhere. A gap in a series (null: not known, e.g. 429s of a store served without its bot)
 * breaks its line.
 *
 * @module
 */
import { h, type Html } from "./html.js";

/** One line of a chart. */
export interface Series {
  readonly name: string;
  /** A CSS colour. */
  readonly color: string;
  /** One value per sample; null where unknown. */
  readonly values: readonly (number | null)[];
  /** Drawn dashed (a line that often runs on top of another, e.g. requests under deliveries). */
  readonly dashed?: boolean;
}

const W = 440;
const H = 150;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };

/** A "nice" upper bound for the axis: 1, 2, 5 × 10^n at or above `max`. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const label = (v: number): string => (v >= 10_000 ? `${Math.round(v / 1000)}k` : Number.isInteger(v) ? String(v) : v.toFixed(1));

/** A chart of `series` over sample times `times` (ms epoch, oldest first). `unit` labels the y axis. */
export function lineChart(title: string, times: readonly number[], series: readonly Series[], unit: string): Html {
  const n = times.length;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = niceMax(Math.max(0, ...all));
  const x = (i: number): number => PAD.left + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.left - PAD.right));
  const y = (v: number): number => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.5, 1].map((f) => h`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(top * f).toFixed(1)}" y2="${y(top * f).toFixed(1)}" stroke="#e3e6ec"/><text x="${PAD.left - 4}" y="${(y(top * f) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#667">${label(top * f)}</text>`);
  const lines = series.map((s) => {
    const paths: string[] = [];
    let current = "";
    s.values.forEach((v, i) => {
      if (v === null) {
        if (current !== "") paths.push(current);
        current = "";
        return;
      }
      current += `${current === "" ? "M" : "L"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (current !== "") paths.push(current);
    return paths.map((d) => h`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" stroke-dasharray="${s.dashed === true ? "5 4" : "none"}"/>`);
  });
  const first = times[0];
  const last = times[n - 1];
  const axis =
    first === undefined || last === undefined
      ? h`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="12" fill="#667">collecting samples…</text>`
      : h`<text x="${PAD.left}" y="${H - 6}" font-size="11" fill="#667">${new Date(first).toISOString().slice(11, 19)}</text><text x="${W - PAD.right}" y="${H - 6}" font-size="11" fill="#667" text-anchor="end">${new Date(last).toISOString().slice(11, 19)} UTC</text>`;
  const legend = series.map((s) => {
    const latest = [...s.values].reverse().find((v) => v !== null);
    return h`<span><i style="background:${s.color}"></i>${s.name}${latest === undefined ? "" : ` (${label(latest)})`}</span>`;
  });
  return h`<figure><figcaption>${title} <span class="muted">${unit}</span></figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${title}">${grid}${lines}${axis}</svg><div class="legend">${legend}</div></figure>`;
}
