/**
 * A TCP proxy (node:net) in front of a server, that a test can cut and restore: the way to
 * take PostgreSQL away from a running bot (and give it back) without stopping the server the
 * other tests use. While cut, open connections are destroyed and new ones are closed as soon as
 * they arrive (the client sees its connection end, as when a server or a network goes away).
 * While slowed, every chunk waits before it is passed on, each way (a slow network or server).
 */
import { createServer, connect, type Server, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  /** Destroys every open connection and refuses new ones until {@link restore}. */
  cut(): void;
  /** Lets connections through again. */
  restore(): void;
  /** Delays every chunk by `ms` each way from now on (0: no delay); order is kept. */
  slow(ms: number): void;
  /** Connections accepted while cut (each closed at once). */
  readonly refused: number;
  close(): Promise<void>;
}

/** Starts a proxy to `host:port`. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let cut = false;
  let refused = 0;
  let delayMs = 0;
  /** Passes chunks from `from` to `to`, each after the current delay, in order. */
  const relay = (from: Socket, to: Socket): void => {
    let last = Promise.resolve();
    from.on("data", (chunk: Buffer) => {
      if (delayMs === 0) {
        last = last.then(() => void to.write(chunk));
        return;
      }
      const wait = delayMs;
      last = last.then(() => new Promise<void>((r) => setTimeout(() => { if (!to.destroyed) to.write(chunk); r(); }, wait)));
    });
  };
  const server: Server = createServer((client) => {
    if (cut) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    open.add(client);
    open.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  return {
    port: address.port,
    through(url: string): string {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(address.port);
      return u.toString();
    },
    cut(): void {
      cut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore(): void {
      cut = false;
    },
    slow(ms: number): void {
      delayMs = ms;
    },
    get refused(): number {
      return refused;
    },
    async close(): Promise<void> {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
