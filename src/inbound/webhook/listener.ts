/**
 * Serving a fetch handler on a port with a graceful close: stop accepting, let requests in
 * progress finish (their update is being written to the inbox; cutting them would make
 * Telegram re-send what may already be stored, or worse, leave the answer unsent after the
 * write), then drop idle keep-alive connections.
 *
 * @module
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { UnlostError } from "../../errors/index.js";

/** Where to listen. */
export interface ListenOptions {
  /** Port; default 0 (a free one, see the returned `port`). */
  readonly port?: number;
  /** Interface; default `127.0.0.1`. Use `0.0.0.0` behind a reverse proxy on another host. */
  readonly host?: string;
}

/** A listening server. */
export interface Listening {
  /** The local URL of the webhook endpoint (`http://host:port/path`), e.g. for tests. */
  readonly url: string;
  /** The port actually bound. */
  readonly port: number;
}

/** A fetch handler served over node:http that can be closed gracefully. */
export interface GracefulServer {
  /** Serves on a port; `path` only shapes the returned URL. */
  listen(options: ListenOptions, path: string): Promise<Listening>;
  /** Stops accepting; resolves once requests in progress are answered (or `timeoutMs` passed). */
  close(timeoutMs: number): Promise<void>;
  /** True once `close` was called: new requests should be refused so Telegram re-sends them later. */
  readonly closing: boolean;
}

type FetchHandler = (request: Request) => Promise<Response>;

/**
 * Wraps `handler` so that requests in progress are counted, and serves it on demand. `what`
 * names the server in errors (the admin server uses this helper too).
 */
export function gracefulServer(handler: FetchHandler, what = "The webhook receiver"): GracefulServer {
  let server: Server | undefined;
  let closing = false;
  let inFlight = 0;
  let closed: Promise<void> | undefined;
  const drainWaiters: Array<() => void> = [];

  const counted: FetchHandler = async (request) => {
    inFlight++;
    try {
      return await handler(request);
    } finally {
      inFlight--;
      if (inFlight === 0) for (const wake of drainWaiters.splice(0)) wake();
    }
  };

  return {
    get closing() {
      return closing;
    },

    async listen(options, path) {
      if (server !== undefined) throw new UnlostError("INVALID_ARGUMENT", `${what} is already listening; call listen() once.`);
      if (closing) throw new UnlostError("STOPPED", `${what} was closed; create a new one to listen again.`);
      const host = options.host ?? "127.0.0.1";
      const started = serve({ fetch: counted, port: options.port ?? 0, hostname: host });
      server = started as Server;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => {
          reject(new UnlostError("INVALID_CONFIG", `${what} cannot listen on ${host}:${options.port ?? 0}: ${error.message}`, { cause: error }));
        };
        started.once("error", onError);
        started.once("listening", () => {
          started.off("error", onError);
          resolve();
        });
      });
      const port = (started.address() as AddressInfo).port;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      return { url: `http://${shownHost}:${port}${path}`, port };
    },

    close(timeoutMs) {
      if (closed !== undefined) return closed;
      closing = true;
      const current = server;
      if (current === undefined) {
        closed = Promise.resolve();
        return closed;
      }
      closed = new Promise<void>((resolve) => {
        // Resolves when every connection is gone; idle keep-alive ones are dropped right away.
        current.close(() => resolve());
        current.closeIdleConnections();
        // Requests in progress get `Connection: close`; once the last is answered, the
        // connections they leave idle are dropped too.
        const drained = new Promise<void>((wake) => (inFlight === 0 ? wake() : drainWaiters.push(wake)));
        void drained.then(() => setImmediate(() => current.closeIdleConnections()));
        // A client that never finishes its request must not hold the shutdown forever.
        setTimeout(() => current.closeAllConnections(), timeoutMs).unref();
      });
      return closed;
    },
  };
}
