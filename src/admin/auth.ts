/**
 * The admin token check. The presented token is compared in constant time: both sides are
 * hashed first (SHA-256), so `timingSafeEqual` compares equal lengths and neither the
 * token's content nor its length leaks through response times.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ADMIN_TOKEN_ENV } from "./options.js";

/** The answer of a request the check refused. */
export interface AuthRefusal {
  readonly status: 401 | 403;
  readonly body: { readonly error: string; readonly message: string };
  readonly headers: Readonly<Record<string, string>>;
}

/** Checks an `Authorization` header; returns undefined when it may pass. */
export type AuthCheck = (authorization: string | undefined) => AuthRefusal | undefined;

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/**
 * The check for `token`. Without a token every protected request is refused with 403 and how
 * to set one: an admin server without a token must not be open to whoever reaches the port.
 */
export function bearerCheck(token: string | undefined): AuthCheck {
  if (token === undefined) {
    const refusal: AuthRefusal = {
      status: 403,
      body: {
        error: "no_admin_token",
        message: `this endpoint needs an admin token, and none is configured: set ${ADMIN_TOKEN_ENV} (at least 16 characters, e.g. openssl rand -hex 24) or the runtime option admin.token, restart, and send it as "Authorization: Bearer <token>"`,
      },
      headers: {},
    };
    return () => refusal;
  }
  const expected = digest(token);
  const refusal: AuthRefusal = {
    status: 401,
    body: { error: "unauthorized", message: `send the admin token (${ADMIN_TOKEN_ENV}) as "Authorization: Bearer <token>"` },
    headers: { "WWW-Authenticate": 'Bearer realm="unlost admin"' },
  };
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const given = match?.[1];
    if (given === undefined) return refusal;
    return timingSafeEqual(digest(given), expected) ? undefined : refusal;
  };
}
