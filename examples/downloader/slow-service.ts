/**
 * A fake slow external service, the shape of what a downloader bot calls: every request takes
 * 1–3 s (the same for the same query) and answers with a made-up file description. A query
 * containing "flaky" fails with 503 the first time it is asked, as real services do now and then.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A running slow service. */
export interface SlowService {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Requests answered so far. */
  served(): number;
  close(): Promise<void>;
}

/** How long the service works on `query`, ms: 1 000–3 000, fixed per query. */
export function workMs(query: string): number {
  let h = 0;
  for (const c of query) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 1_000 + (h % 2_001);
}

/** Starts the service on a free port of 127.0.0.1. */
export async function startSlowService(): Promise<SlowService> {
  let served = 0;
  const failed = new Set<string>();
  const server: Server = createServer((req, res) => {
    const query = new URL(req.url ?? "/", "http://x").searchParams.get("q") ?? "";
    if (query.includes("flaky") && !failed.has(query)) {
      failed.add(query);
      res.statusCode = 503;
      res.end("try again later");
      return;
    }
    const ms = workMs(query);
    setTimeout(() => {
      served++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ query, file: `${query.replace(/\W+/g, "_").slice(0, 40)}.mp4`, bytes: 1_000_000 + (ms * 997) % 9_000_000, ms }));
    }, ms);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
