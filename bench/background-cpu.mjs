/**
 * The CPU-bound task of `bench/background.mjs`, run in a worker thread by `runInWorker`:
 * `rounds` chained SHA-256 digests (2,000–20,000 rounds: a few ms to ~40 ms of one core).
 */
import { createHash } from "node:crypto";

export default function hashRounds({ rounds }) {
  let digest = Buffer.alloc(32);
  for (let i = 0; i < rounds; i++) digest = createHash("sha256").update(digest).digest();
  return digest.toString("hex");
}
