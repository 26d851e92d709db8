import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import { PgReachability } from "../store/postgres/reachability.js";
import type { Store } from "../store/index.js";
import { createLogger } from "./logger.js";
import { StoreOutageLog } from "./store-outage.js";

function capture(): { lines: () => Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString());
      done();
    },
  });
  return { lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>), logger: createLogger({ level: "info", destination }) };
}

const storeFailure = (op: string) => new UnlostError("STORE_FAILURE", `PostgreSQL store (postgres://db schema s): ${op} failed [ECONNREFUSED]`);

describe("StoreOutageLog", () => {
  it("one line when the store becomes unreachable, one when it is back; store errors in between are held back, others are not", () => {
    const { lines, logger } = capture();
    const reachability = new PgReachability();
    const outage = new StoreOutageLog();
    outage.watch({ reachability, location: "postgres://db schema s" } as unknown as Store, logger);
    const quiet = outage.quiet(logger);

    quiet.warn({ err: storeFailure("claim") }, "before the outage: written");
    reachability.failed(storeFailure("ingest"), 1_000);
    reachability.failed(storeFailure("claim"), 1_100);
    reachability.failed(storeFailure("heartbeat"), 1_200);
    quiet.error({ err: storeFailure("ingest") }, "polling failed; retrying");
    quiet.child({ part: "outbox" }).error({ err: new Error("wrapped", { cause: storeFailure("claim jobs") }) }, "claiming outgoing messages failed");
    quiet.warn({ err: new Error("getUpdates: 502") }, "network error while polling");
    quiet.warn("a warning without an error");
    reachability.succeeded(5_000);
    quiet.warn({ err: storeFailure("settle") }, "after the outage: written");
    reachability.failed(storeFailure("ingest"), 9_000);

    const msgs = lines().map((l) => String(l["msg"]));
    expect(msgs).toEqual([
      "before the outage: written",
      expect.stringMatching(/^the store's server cannot be reached: polling stops confirming updates/),
      "network error while polling",
      "a warning without an error",
      "the store's server is reachable again; resuming",
      "after the outage: written",
      expect.stringMatching(/^the store's server cannot be reached/),
    ]);
    const back = lines()[4]!;
    expect(back).toMatchObject({ level: 30, store: "postgres://db schema s", downForMs: 4_000, failedOperations: 3, logLinesHeldBack: 2 });
    expect(lines()[1]).toMatchObject({ level: 50, store: "postgres://db schema s", err: { code: "STORE_FAILURE" } });
  });

  it("changes nothing for a store without reachability (SQLite), and stops listening when stopped", () => {
    const { lines, logger } = capture();
    const outage = new StoreOutageLog();
    outage.watch({ location: "/data/unlost.sqlite" } as unknown as Store, logger);
    outage.quiet(logger).warn({ err: storeFailure("claim") }, "written");
    const reachability = new PgReachability();
    outage.watch({ reachability, location: "pg" } as unknown as Store, logger);
    outage.stop();
    reachability.failed(storeFailure("claim"), 1);
    outage.quiet(logger).warn({ err: storeFailure("claim") }, "written too");
    expect(lines().map((l) => l["msg"])).toEqual(["written", "written too"]);
  });
});
