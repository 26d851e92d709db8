/**
 * Operator alerts in a running bot on the emulator: a backlog that waits too long alerts the
 * admin chat (through the outbox), and once it is handled, the chat hears it is resolved.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { SimUser } from "../../src/emulator/index.js";
import { until } from "../helpers/until.js";
import { startWithAdmin, type AdminSetup } from "./helpers.js";

let setup: AdminSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

describe("operator alerts", () => {
  it("tells the admin chat when the bot falls behind, and when it caught up", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let admin: SimUser | undefined;
    setup = await startWithAdmin(
      (bot) => bot.on("message:text", (ctx) => (ctx.message.text === "slow" ? held : undefined)),
      { alerts: { intervalMs: 50, backlogAgeMs: 300 } },
      undefined,
      (emulator) => {
        admin = emulator.createUser({ firstName: "Admin" });
        return { downtime: { adminChatIds: [admin.id] } };
      },
    );
    const { emulator, sim } = setup;
    const adminId = admin!.id;
    admin!.sendText(sim, "/start");
    emulator.createUser().sendText(sim, "slow");
    const texts = (): string[] => sim.record.to(adminId).map((m) => m.text ?? "");
    await until(() => texts().some((t) => t.startsWith("⚠️")), 10_000, "the alert");
    expect(texts().find((t) => t.startsWith("⚠️"))).toMatch(/^⚠️ @\w+: the bot is not keeping up: the oldest unfinished update has waited \d+ m?s \(more than 300 ms\)\.$/);
    release();
    await until(() => texts().some((t) => t.startsWith("✅")), 10_000, "resolved");
    expect(texts().filter((t) => t.startsWith("⚠️"))).toHaveLength(1); // the cool-down (1 h) holds back repeats
    expect(texts().find((t) => t.startsWith("✅"))).toMatch(/resolved: the backlog is handled/);
  });
});
