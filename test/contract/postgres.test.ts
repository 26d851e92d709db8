/**
 * The store contract on PostgreSQL, whole and unchanged (the same cases as SQLite), and the
 * journal contract, against a real server (see test/helpers/postgres-server.ts for which one).
 * Each store the contract opens gets a schema of its own in this file's database; `reopen`
 * opens the same schema again.
 */
import { openStore, type Store } from "../../src/store/index.js";
import { usePgDatabase } from "../helpers/postgres.js";
import { defineJournalContract } from "./journal-contract.js";
import { defineStoreContract, type StoreFactory } from "./store-contract.js";

const db = usePgDatabase();
const schemaOf = new Map<string, string>();

const factory: StoreFactory = async (location, options) => {
  const schema = location === undefined ? db.freshSchema() : schemaOf.get(location);
  if (schema === undefined) throw new Error(`no schema known for ${location}`);
  const store: Store = await openStore({ url: db.url(), schema, poolSize: 4, auditRedaction: options?.auditRedaction === true });
  schemaOf.set(store.location, schema);
  return store;
};

defineStoreContract("postgres", factory);

defineJournalContract("postgres", factory);
