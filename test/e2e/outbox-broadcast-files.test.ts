/**
 * A broadcast of a file given as a Buffer: every job of the broadcast refers to the same spilled
 * blob, so the file must stay until the broadcast no longer needs it (and go after that).
 */
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "./helpers/outbox-probes.js";
import { startOutboxWorld, type OutboxWorld } from "./helpers/outbox-runtime.js";

let world: OutboxWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("broadcasting a file", () => {
  it("a photo given as a Buffer reaches every chat of the broadcast; its blob is removed once all are delivered", async () => {
    world = await startOutboxWorld({ emulator: { limits: false }, runtime: { outbox: { idleMs: 20, concurrency: 4 } } });
    const { emulator, sim, rt, tmp } = world;
    const users = Array.from({ length: 12 }, (_, i) => emulator.createUser({ firstName: `B${i}` }));
    const { broadcastId } = await rt.outbox.broadcast(users.map((u) => u.id), "sendPhoto", { photo: Buffer.from("a photo for everyone"), caption: "for all" });
    await until(async () => (await rt.outbox.broadcastProgress(broadcastId))?.remaining === 0, { what: "the broadcast" });
    const progress = await rt.outbox.broadcastProgress(broadcastId);
    const dead = await rt.outbox.deadLetters.list();
    expect(dead.items.map((j) => j.lastError)).toEqual([]);
    expect(progress).toMatchObject({ total: 12, delivered: 12, failed: 0 });
    expect(users.map((u) => sim.record.to(u.id).map((m) => m.kind))).toEqual(users.map(() => ["photo"]));
    await until(() => readdirSync(tmp.file("blobs")).filter((f) => !f.startsWith(".")).length === 0, { timeoutMs: 5_000, what: "the blob removed" });
  });
});
