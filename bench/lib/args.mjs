/**
 * `--name value` arguments of a bench against its defaults: camelCase names from kebab-case
 * flags, booleans as bare flags, strings and positive numbers as values. Unknown flags throw
 * with the list of known ones.
 */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  const flags = () => Object.keys(defaults).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(" ");
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? "";
    const name = raw.replace(/^--/, "").replace(/-([a-z])/g, (_m, c) => c.toUpperCase());
    if (!raw.startsWith("--") || !(name in defaults)) throw new Error(`unknown argument ${raw}; options: ${flags()}`);
    if (typeof defaults[name] === "boolean") {
      out[name] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined || value.startsWith("--")) throw new Error(`${raw} takes a value`);
    if (typeof defaults[name] === "string") {
      out[name] = value;
      continue;
    }
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${raw} takes a positive number`);
    out[name] = n;
  }
  return out;
}
