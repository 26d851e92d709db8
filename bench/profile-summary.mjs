#!/usr/bin/env node
/**
 * Where a `node --cpu-prof` profile spends its time: self time by file and by function, and
 * total (inclusive) time of the emulator's own functions.
 *
 * Usage: node bench/profile-summary.mjs <file.cpuprofile> [--top 25]
 * Used by `bench/emulator.mjs --profile`.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Summarizes a .cpuprofile; returns printable lines.
 * @param {string} path
 * @param {{ top?: number }} [options]
 * @returns {string[]}
 */
export function summarizeProfile(path, { top = 25 } = {}) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfByFn = new Map();
  const selfByFile = new Map();
  const totalByFn = new Map();
  let total = 0;
  let idle = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = Math.max(0, deltas[i] ?? 0) / 1000; // µs → ms
    const node = nodes.get(samples[i]);
    if (node === undefined) continue;
    total += dt;
    const name = node.callFrame.functionName;
    if (name === "(idle)") idle += dt;
    const fn = fnKey(node.callFrame);
    selfByFn.set(fn, (selfByFn.get(fn) ?? 0) + dt);
    const file = fileKey(node.callFrame);
    selfByFile.set(file, (selfByFile.get(file) ?? 0) + dt);
    // Inclusive time: every distinct function on the sample's stack.
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const key = fnKey(nodes.get(id).callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      totalByFn.set(key, (totalByFn.get(key) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const pct = (ms) => `${((100 * ms) / Math.max(busy, 1e-9)).toFixed(1).padStart(5)}%`;
  const rows = (map, n, filter = () => true) =>
    [...map].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => `${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`);
  const isIdleOrRoot = (k) => !k.startsWith("(idle)") && !k.startsWith("(root)") && !k.startsWith("(program)");
  return [
    `${total.toFixed(0)} ms sampled, ${idle.toFixed(0)} ms idle, ${busy.toFixed(0)} ms busy (percentages are of busy time)`,
    "self time by file:",
    ...rows(selfByFile, Math.min(top, 15), (k) => k !== "(idle)"),
    "self time by function:",
    ...rows(selfByFn, top, (k) => !k.startsWith("(idle)")),
    "total (inclusive) time of emulator functions:",
    ...rows(totalByFn, top, (k) => k.includes("/emulator/") && isIdleOrRoot(k)),
  ];
}

function shortUrl(url) {
  if (url === "") return "";
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  const dist = path.lastIndexOf("/dist/");
  if (dist >= 0) return path.slice(dist + 1);
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + 1);
  return path;
}

function fnKey(frame) {
  const url = shortUrl(frame.url);
  const name = frame.functionName || "(anonymous)";
  return url === "" ? name : `${name} ${url}:${frame.lineNumber + 1}`;
}

function fileKey(frame) {
  const url = shortUrl(frame.url);
  if (url !== "") return url;
  // Builtins without a URL: GC, native code, the program itself.
  return frame.functionName || "(native)";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, flag, n] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: node bench/profile-summary.mjs <file.cpuprofile> [--top N]");
    process.exit(2);
  }
  for (const line of summarizeProfile(file, { top: flag === "--top" ? Number(n) : 25 })) console.log(line);
}

/**
 * Inclusive time of named stages in a `.cpuprofile`: a sample counts for a stage when a frame
 * of its stack matches (or, for a stage marked self-only, when its leaf frame does).
 *
 * @param {string} path the profile file
 * @param {Array<[string, (frame: { functionName: string, url: string }) => boolean, boolean?]>} stages label, matcher, self-only
 * @returns {{ inclusive: number[], busy: number }} ms per stage, and ms not idle
 */
export function stageTimes(path, stages) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Array(stages.length).fill(0);
  let busy = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = Math.max(0, deltas[i] ?? 0) / 1000;
    const leaf = nodes.get(samples[i]);
    if (leaf === undefined || leaf.callFrame.functionName === "(idle)") continue;
    busy += dt;
    const hit = stages.map(([, match, selfOnly]) => selfOnly === true && match(leaf.callFrame));
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = nodes.get(id).callFrame;
      stages.forEach(([, match, selfOnly], s) => { if (!hit[s] && selfOnly !== true && match(frame)) hit[s] = true; });
    }
    hit.forEach((h, s) => { if (h) inclusive[s] += dt; });
  }
  return { inclusive, busy };
}
