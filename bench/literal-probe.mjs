#!/usr/bin/env node
/**
 * Diagnosis for peak memory (issue 9): which object and array literals of unlost's build V8
 * allocates straight in the old generation ("pretenured") while an echo bot drains a backlog.
 *
 * V8 tracks literals by allocation site; once most objects of a site outlive a scavenge, it
 * allocates the site's objects in the old generation for the rest of the process. A dead old
 * object keeps what it points to alive until the next full GC, so a pretenured per-update
 * literal that points to the update, a send or a run drags them into the old generation, and
 * V8 sizes the heap from that growth. Class instances and builtins such as `Array.of` are never
 * pretenured.
 *
 * How: copies dist/ to bench/.probe/dist with every object and array literal wrapped in
 * `globalThis.__lit(id, …)` (found with the TypeScript parser), runs that build as
 * `bench/echo.mjs --only unlost-baseline` under `node --allow-natives-syntax`, and counts per
 * site how many of its objects were old at birth (`%InYoungGeneration`). Which sites V8 picks
 * varies from run to run (it decides in the first seconds of the backlog), so it runs `--runs`
 * times. grammY's own literals are not instrumented (a second copy of grammY would be a second
 * `Api` class).
 *
 * Usage: npm run build && node bench/literal-probe.mjs [--runs 3] [--n 100000] [--dist <another build>]
 * Output: per run, the sites with more than 100 objects old at birth: `old/all file:line literal`.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const runs = opt("runs", 3);
const n = opt("n", 100_000);
// `--dist <dir>`: another build (e.g. an earlier commit's, to see a site that was fixed).
const source = args.includes("--dist") ? args[args.indexOf("--dist") + 1] : join(here, "..", "dist");

const root = join(here, ".probe");
const dist = join(root, "dist");
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
cpSync(source, dist, { recursive: true });

/** Every literal of the copied build, in id order: `file:line text`. */
const sites = [];
for (const file of jsFiles(dist)) instrument(file);
writeFileSync(join(root, "sites.json"), JSON.stringify(sites));
writeFileSync(join(root, "probe.mjs"), `import { readFileSync } from "node:fs";
const young = new Function("o", "return %InYoungGeneration(o)");
const all = new Map(), old = new Map();
globalThis.__lit = (id, o) => { all.set(id, (all.get(id) ?? 0) + 1); if (!young(o)) old.set(id, (old.get(id) ?? 0) + 1); return o; };
process.on("exit", () => {
  const sites = JSON.parse(readFileSync(${JSON.stringify(join(root, "sites.json"))}, "utf8"));
  for (const [id, k] of [...old].filter(([, k]) => k > 100).sort((a, b) => b[1] - a[1])) process.stderr.write("LIT " + k + "/" + all.get(id) + " " + sites[id] + "\\n");
});
`);
console.log(`[literal-probe] ${sites.length} literals instrumented in ${relative(process.cwd(), dist)}`);

for (let run = 1; run <= runs; run++) {
  const result = spawnSync(process.execPath, [join(here, "echo.mjs"), "--rounds", "1", "--n", String(n), "--only", "unlost-baseline", "--baseline", dist], {
    env: { ...process.env, UNLOST_BENCH_NODE_FLAGS: `--allow-natives-syntax --import ${join(root, "probe.mjs")}` },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = `${result.stdout}\n${result.stderr}`.split("\n");
  const peak = lines.find((l) => l.includes("round 1/1"))?.match(/peak rss (\d+) MB/)?.[1] ?? "?";
  console.log(`[literal-probe] run ${run}/${runs}: peak RSS ${peak} MB; literals old at birth (more than 100):`);
  const found = lines.filter((l) => l.includes("LIT ")).map((l) => l.slice(l.indexOf("LIT ") + 4));
  for (const l of found.length > 0 ? found : ["(none)"]) console.log(`  ${l}`);
  if (result.status !== 0) console.log(`[literal-probe] run ${run}: bench exited with ${result.status}`);
}

function* jsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* jsFiles(path);
    else if (name.endsWith(".js")) yield path;
  }
}

/** A literal written to (destructuring assignment, for-of target) is a pattern, not an allocation. */
function isPattern(node) {
  for (let n = node; n.parent !== undefined; n = n.parent) {
    const p = n.parent;
    if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken && p.left === n) return true;
    if ((ts.isForOfStatement(p) || ts.isForInStatement(p)) && p.initializer === n) return true;
    const within = ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p) || ts.isSpreadAssignment(p) || ts.isSpreadElement(p)
      || ts.isObjectLiteralExpression(p) || ts.isArrayLiteralExpression(p) || ts.isParenthesizedExpression(p);
    if (!within) return false;
  }
  return false;
}

function instrument(file) {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const inserts = [];
  const visit = (node) => {
    if ((ts.isObjectLiteralExpression(node) || ts.isArrayLiteralExpression(node)) && !isPattern(node)) {
      const id = sites.length;
      const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      sites.push(`${relative(dist, file)}:${line} ${node.getText().slice(0, 60).replace(/\s+/g, " ")}`);
      inserts.push([node.getStart(), `globalThis.__lit(${id}, `, 0], [node.getEnd(), ")", 1]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  // From the end, closing parentheses before opening ones at the same place (nested literals).
  inserts.sort((a, b) => b[0] - a[0] || a[2] - b[2]);
  let out = text;
  for (const [at, piece] of inserts) out = out.slice(0, at) + piece + out.slice(at);
  writeFileSync(file, out);
}
