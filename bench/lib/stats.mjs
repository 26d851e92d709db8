// Small helpers shared by the benchmark scripts.

/** The median of a list of numbers (0 for an empty list). */
export function median(values) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A whole number with thousands separators, for progress lines. */
export function fmt(n) {
  return Math.round(n).toLocaleString("en-US");
}
