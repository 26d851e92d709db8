/**
 * The URL space of the emulator: `/bot<token>/<method>` for the Bot API,
 * `/file/bot<token>/<path>` for downloads, `/_emulator/...` for the control API.
 */

/** A parsed request path. */
export type Route =
  | { kind: "api"; token: string; method: string }
  | { kind: "file"; token: string; path: string }
  | { kind: "control"; path: string }
  | { kind: "unknown" };

/** Classifies a request path (without the query string). */
export function route(path: string): Route {
  if (path.startsWith("/bot")) {
    const slash = path.indexOf("/", 4);
    if (slash < 0) return { kind: "unknown" };
    const method = path.slice(slash + 1);
    if (method === "" || method.includes("/")) return { kind: "unknown" };
    return { kind: "api", token: decodeURIComponent(path.slice(4, slash)), method };
  }
  if (path.startsWith("/file/bot")) {
    const slash = path.indexOf("/", 9);
    if (slash < 0) return { kind: "unknown" };
    return { kind: "file", token: decodeURIComponent(path.slice(9, slash)), path: decodeURIComponent(path.slice(slash + 1)) };
  }
  if (path === "/_emulator" || path.startsWith("/_emulator/")) return { kind: "control", path: path.slice("/_emulator".length) || "/" };
  return { kind: "unknown" };
}

/** Telegram's answer to a path that is not a Bot API method. */
export const NOT_FOUND_BODY = { ok: false, error_code: 404, description: "Not Found" } as const;
