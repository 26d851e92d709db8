import { describe, expect, it } from "vitest";
import { IsolationGate } from "./isolation-gate.js";

describe("IsolationGate", () => {
  it("counts ordinary runs, and tells its listeners when a held gate has none left and when it opens", () => {
    const gate = new IsolationGate();
    const told: string[] = [];
    const unsubscribe = gate.subscribe(() => told.push(`held=${gate.held} running=${gate.running}`));
    gate.began();
    gate.began();
    gate.ended();
    gate.ended();
    // Not held: nobody waits for the runs to end.
    expect(told).toEqual([]);
    gate.began();
    gate.hold();
    expect(gate.held).toBe(true);
    gate.ended();
    expect(told).toEqual(["held=true running=0"]);
    gate.release();
    expect(told).toEqual(["held=true running=0", "held=false running=0"]);
    // Releasing an open gate changes nothing.
    gate.release();
    expect(gate.held).toBe(false);
    unsubscribe();
    gate.hold();
    gate.release();
    expect(told).toHaveLength(2);
  });

  it("stays held until every hold is released", () => {
    const gate = new IsolationGate();
    gate.hold();
    gate.hold();
    gate.release();
    expect(gate.held).toBe(true);
    gate.release();
    expect(gate.held).toBe(false);
  });
});
