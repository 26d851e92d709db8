import type { Context } from "grammy";
import { describe, expect, it } from "vitest";
import { UnlostError } from "../errors/index.js";
import type { Outbox } from "../outbound/outbox.js";
import { HandlingInfo } from "./handling-info.js";

function info(): HandlingInfo {
  const claimed = { updateId: 7, chatKey: "c:1", updateType: "message", messageDate: null, receivedAt: 0, update: { update_id: 7 }, attempt: 1, recoveries: 0, recovered: false, lastError: null, firstRun: true };
  const noOutbox = (): Outbox => { throw new UnlostError("INVALID_CONFIG", "no outbox in this test"); };
  return new HandlingInfo(claimed, { ageMs: 0, arrivedWhileDown: false }, "1:7", noOutbox, 5, { read: async () => null }, true);
}

describe("HandlingInfo", () => {
  it("lets go of its run's context and settled sends once the run ended (old objects pointing here keep less alive)", async () => {
    const run = info();
    const ctx = { update: { update_id: 7 } } as unknown as Context;
    run.bindContext(ctx);
    const scope = run.sendScope();
    let release: () => void = () => undefined;
    scope.pending = [new Promise<void>((r) => (release = r))];
    const stored = run.sendsStored();
    // Handed over to the caller that waits for them; the scope holds no settled send any more.
    expect(stored).toBeDefined();
    expect(scope.pending).toBeUndefined();
    release();
    await stored;
    expect(run.context).toBe(ctx);
    run.ended();
    expect(run.context).toBeUndefined();
    // Nothing pending: nothing to wait for.
    expect(run.sendsStored()).toBeUndefined();
  });
});
