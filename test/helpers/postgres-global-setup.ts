/**
 * Vitest global setup: one PostgreSQL server for the whole run (see postgres-server.ts),
 * handed to test files as `inject("unlostPg")`, and stopped at the end when it was started here.
 */
import type { TestProject } from "vitest/node";
import { describeServer, resolveTestPgServer, type TestPgServer } from "./postgres-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The PostgreSQL server of this test run. */
    unlostPg: TestPgServer;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { server, stop } = await resolveTestPgServer();
  console.log(`[unlost tests] PostgreSQL: ${describeServer(server)}`);
  project.provide("unlostPg", server);
  return stop;
}
