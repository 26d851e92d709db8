/**
 * Browser sessions of the admin server: the login form trades the admin token for a session
 * cookie (HttpOnly, so scripts cannot read it; SameSite=Strict, so other sites cannot make the
 * browser send it), and each session has its own CSRF token, which every state-changing
 * request made with the cookie must carry. Sessions live in memory: a restart logs everyone
 * out, which is the safe side.
 *
 * @module
 */
import { randomBytes, createHash, timingSafeEqual } from "node:crypto";

/** The session cookie's name. */
export const SESSION_COOKIE = "unlost_admin";
/** How long a session lasts, ms (12 h). */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Sessions kept at most; the oldest goes first (a login loop cannot fill the memory). */
const MAX_SESSIONS = 100;

/** One logged-in browser. */
export interface Session {
  /** The token every POST made with this session's cookie must send (`X-CSRF-Token` or `_csrf`). */
  readonly csrf: string;
  readonly expiresAt: number;
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** True when two secrets are equal, compared in constant time. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The sessions of one admin server. */
export class Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** Starts a session; returns its id (the cookie's value) and the session. */
  create(): { id: string; session: Session } {
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString("base64url");
    const session = { csrf: randomBytes(32).toString("base64url"), expiresAt: this.clock() + SESSION_TTL_MS };
    this.sessions.set(id, session);
    return { id, session };
  }

  /** The live session of a cookie value, or undefined. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.clock()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Ends a session (logout). */
  delete(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }
}
