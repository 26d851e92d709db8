import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Http1Connection, type Http1Answer } from "./http1-connection.js";

// Each test scripts a real local TCP server byte by byte, so that what is pinned here is the
// behaviour on the wire: framing, keep-alive, the keep-alive race, failures.

/** A request as the server saw it. */
interface SeenRequest {
  /** Position among all requests the server saw (0-based). */
  readonly index: number;
  /** Which connection carried it (0-based, in order of acceptance). */
  readonly connection: number;
  /** Position among the requests on its connection (0-based). */
  readonly onConnection: number;
  readonly requestLine: string;
  /** Header lines as sent (without the request line). */
  readonly headerLines: readonly string[];
  /** Header values by lower-case name. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

type OnRequest = (request: SeenRequest, socket: net.Socket) => void | Promise<void>;

interface TestServer {
  readonly port: number;
  readonly url: URL;
  readonly requests: SeenRequest[];
  /** Server-side sockets, by connection index. */
  readonly sockets: net.Socket[];
  /** Resolves when the server-side socket of connection `i` has closed. */
  closed(i: number): Promise<void>;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const connections: Http1Connection[] = [];
/** Failures inside the scripted servers (a broken script must fail its test). */
const scriptErrors: unknown[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
  const errors = scriptErrors.splice(0);
  expect(errors).toEqual([]);
});

/**
 * Starts a server that reads requests (head and Content-Length body) off each connection and
 * hands each to `onRequest`, which answers (or not) by writing raw bytes to the socket.
 */
async function startServer(
  onRequest: OnRequest,
  options: { host?: string; onConnection?: (socket: net.Socket, index: number) => void } = {},
): Promise<TestServer> {
  const host = options.host ?? "127.0.0.1";
  const requests: SeenRequest[] = [];
  const sockets: net.Socket[] = [];
  const closedPromises: Promise<void>[] = [];
  const server = net.createServer((socket) => {
    const connection = sockets.length;
    sockets.push(socket);
    closedPromises.push(new Promise<void>((resolve) => socket.once("close", () => resolve())));
    socket.setNoDelay(true);
    socket.on("error", () => {}); // resets are part of the scripts
    let buffered = Buffer.alloc(0);
    let onConnection = 0;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const [requestLine = "", ...headerLines] = buffered.toString("latin1", 0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers["content-length"] ?? "0");
        if (buffered.length < end + 4 + length) return;
        const body = buffered.toString("utf8", end + 4, end + 4 + length);
        buffered = buffered.subarray(end + 4 + length);
        const request: SeenRequest = { index: requests.length, connection, onConnection: onConnection++, requestLine, headerLines, headers, body };
        requests.push(request);
        Promise.resolve()
          .then(() => onRequest(request, socket))
          .catch((error: unknown) => scriptErrors.push(error));
      }
    });
    options.onConnection?.(socket, connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const testServer: TestServer = {
    port,
    url: new URL(`http://${host.includes(":") ? `[${host}]` : host}:${port}`),
    requests,
    sockets,
    closed: (i) => {
      const promise = closedPromises[i];
      if (promise === undefined) throw new Error(`no connection ${i}`);
      return promise;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(testServer);
  return testServer;
}

function open(server: TestServer | URL): Http1Connection {
  const connection = new Http1Connection(server instanceof URL ? server : server.url);
  connections.push(connection);
  return connection;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const never = (): AbortSignal => new AbortController().signal;

/** A POST with a signal that never aborts and a generous timeout. */
function post(connection: Http1Connection, body = "{}", path = "/bot1:token/getUpdates", timeoutMs = 10_000): Promise<Http1Answer> {
  return connection.post(path, body, never(), timeoutMs);
}

/** Resolves with the rejection of `promise` (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

/** A complete answer framed by Content-Length. */
function answer(body: string, status = "200 OK", headers: readonly string[] = ["Content-Type: application/json"]): Buffer {
  const bytes = Buffer.from(body, "utf8");
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${[...headers, `Content-Length: ${bytes.length}`].join("\r\n")}\r\n\r\n`, "latin1"), bytes]);
}

/** Writes `data` one byte per write, pausing between writes (`0`: one event-loop turn). */
async function dribble(socket: net.Socket, data: Buffer | string, pauseMs = 0): Promise<void> {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  for (let i = 0; i < bytes.length; i++) {
    if (socket.destroyed) return;
    socket.write(bytes.subarray(i, i + 1));
    await (pauseMs > 0 ? pause(pauseMs) : tick());
  }
}

/** Writes each part separately, pausing between parts. */
async function writeParts(socket: net.Socket, parts: readonly (Buffer | string)[], pauseMs = 5): Promise<void> {
  for (const part of parts) {
    if (socket.destroyed) return;
    socket.write(part);
    await pause(pauseMs);
  }
}

const UNICODE_TEXT = "ok ✓ سلام دنیا — «پیام» 🎉";

describe("Http1Connection: answers framed by Content-Length", () => {
  it("reads an answer delivered one byte per write (with pauses), multi-byte UTF-8 split across writes", async () => {
    const json = JSON.stringify({ ok: true, result: [{ text: UNICODE_TEXT }] });
    const server = await startServer((_request, socket) => dribble(socket, answer(json), 1));
    const result = await post(open(server));
    expect(result).toEqual({ status: 200, statusText: "OK", text: json });
    expect(JSON.parse(result.text)).toEqual({ ok: true, result: [{ text: UNICODE_TEXT }] });
  });

  it("reads an answer delivered one byte per event-loop turn, and the connection stays usable", async () => {
    const server = await startServer((request, socket) => dribble(socket, answer(`${UNICODE_TEXT} #${request.index}`)));
    const connection = open(server);
    expect((await post(connection)).text).toBe(`${UNICODE_TEXT} #0`);
    expect((await post(connection)).text).toBe(`${UNICODE_TEXT} #1`);
    expect(server.sockets).toHaveLength(1);
  });

  it("reads an answer whose head and body arrive in one write, and one split inside the head terminator", async () => {
    const server = await startServer((request, socket) => {
      const bytes = answer(`answer ${request.index} ✓`);
      if (request.index === 0) socket.write(bytes);
      else {
        const end = bytes.indexOf("\r\n\r\n");
        return writeParts(socket, [bytes.subarray(0, end + 1), bytes.subarray(end + 1, end + 3), bytes.subarray(end + 3, bytes.length - 2), bytes.subarray(bytes.length - 2)]);
      }
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: "answer 0 ✓" });
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: "answer 1 ✓" });
    expect(server.sockets).toHaveLength(1);
  });

  it("reads an empty body (Content-Length: 0), header names in any case, and a status line without a reason", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      else socket.write("HTTP/1.1 200\r\ncontent-LENGTH:   5  \r\nX-Other: 1\r\n\r\nhello");
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: "" });
    expect(await post(connection)).toEqual({ status: 200, statusText: "", text: "hello" });
    expect(server.sockets).toHaveLength(1);
  });

  it("ends the body at Content-Length: a 204 No Content without a length is empty and keeps the connection", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write("HTTP/1.1 204 No Content\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n");
      else socket.write(answer("after"));
    });
    const connection = open(server);
    expect(await post(connection, "{}", "/x", 5_000)).toEqual({ status: 204, statusText: "No Content", text: "" });
    expect((await post(connection)).text).toBe("after");
    expect(server.sockets).toHaveLength(1);
  });
});

describe("Http1Connection: chunked answers", () => {
  it("joins chunks (with extensions, a trailer, and chunks split across writes)", async () => {
    const check = Buffer.from("✓", "utf8"); // 3 bytes: split between two chunks below
    const persian = Buffer.from("سلام", "utf8");
    const chunks = [
      Buffer.from("5;x=y\r\nhello\r\n", "latin1"),
      Buffer.concat([Buffer.from("3\r\n", "latin1"), Buffer.from(" ab"), Buffer.from("\r\n", "latin1")]),
      Buffer.concat([Buffer.from("1 ; name=\"quoted;value\"\r\n", "latin1"), check.subarray(0, 1), Buffer.from("\r\n", "latin1")]),
      Buffer.concat([Buffer.from("2\r\n", "latin1"), check.subarray(1), Buffer.from("\r\n", "latin1")]),
      Buffer.concat([Buffer.from(`${persian.length.toString(16).toUpperCase()}\r\n`, "latin1"), persian, Buffer.from("\r\n", "latin1")]),
      Buffer.from("0\r\nX-Trailer: done\r\nX-Other: 2\r\n\r\n", "latin1"),
    ];
    const head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n";
    const whole = Buffer.concat([Buffer.from(head, "latin1"), ...chunks]);
    const server = await startServer(async (request, socket) => {
      if (request.index === 0) {
        // Awkward cuts: inside the size line, inside the CRLFs, inside the data, inside the trailer.
        const cuts = [3, head.length - 1, head.length + 2, head.length + 6, head.length + 9, whole.length - 20, whole.length - 3, whole.length - 1];
        const parts: Buffer[] = [];
        let from = 0;
        for (const cut of cuts) {
          parts.push(whole.subarray(from, cut));
          from = cut;
        }
        parts.push(whole.subarray(from));
        await writeParts(socket, parts);
      } else if (request.index === 1) await dribble(socket, whole);
      else socket.write(answer("next"));
    });
    const connection = open(server);
    const expected = "hello ab✓سلام";
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: expected });
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: expected });
    // The whole chunked answer, trailer included, was consumed: the connection carries on.
    expect((await post(connection)).text).toBe("next");
    expect(server.sockets).toHaveLength(1);
  });

  it("reads a chunked answer without trailers, prefers chunked over Content-Length, and ignores case", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
      else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 999\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("abcdefghijklmnopqrstuvwxyz");
    expect((await post(connection)).text).toBe("ok");
    expect(server.sockets).toHaveLength(1);
  });

  it("rejects an invalid chunk size", async () => {
    const server = await startServer((_request, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    });
    expect((await rejection(post(open(server)))).message).toMatch(/invalid chunk size "zz"/);
  });

  it("rejects a chunk size line that never ends", async () => {
    const server = await startServer((_request, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;${"x".repeat(5000)}`);
    });
    expect((await rejection(post(open(server)))).message).toMatch(/chunk size line is too long/);
  });

  it("rejects a chunk larger than the answer limit as soon as its size arrives", async () => {
    const server = await startServer((_request, socket) => {
      // 64 MiB + 1, announced and never sent.
      socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(64 * 1024 * 1024 + 1).toString(16)}\r\nabc`);
    });
    expect((await rejection(post(open(server), "{}", "/x", 5_000))).message).toMatch(/too large/);
  });
});

describe("Http1Connection: answers read to the close", () => {
  it("reads a body with neither length nor chunked up to the server's close, then opens a new connection", async () => {
    const server = await startServer(async (request, socket) => {
      if (request.index === 0) {
        await writeParts(socket, ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "first part ", Buffer.from("✓ سلام").subarray(0, 4), Buffer.from("✓ سلام").subarray(4)]);
        socket.end();
      } else socket.write(answer("second"));
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 200, statusText: "OK", text: "first part ✓ سلام" });
    expect((await post(connection)).text).toBe("second");
    expect(server.sockets).toHaveLength(2);
  });

  it("reads an empty body up to the close", async () => {
    const server = await startServer((_request, socket) => {
      socket.end("HTTP/1.0 200 OK\r\n\r\n");
    });
    expect(await post(open(server))).toEqual({ status: 200, statusText: "OK", text: "" });
  });

  it("rejects a body read to the close when the server resets the connection instead", async () => {
    const server = await startServer(async (_request, socket) => {
      await writeParts(socket, ["HTTP/1.1 200 OK\r\n\r\n", "partial"]);
      socket.resetAndDestroy();
    });
    const error = await rejection(post(open(server)));
    expect(error.message).toMatch(/ECONNRESET|closed/);
    expect(server.requests).toHaveLength(1);
  });

  it("rejects a body read to the close that grows past the answer limit", async () => {
    const server = await startServer(async (_request, socket) => {
      socket.write("HTTP/1.1 200 OK\r\n\r\n");
      const mebibyte = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i <= 64 && !socket.destroyed; i++) {
        if (!socket.write(mebibyte)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              socket.off("drain", done).off("close", done);
              resolve();
            };
            socket.on("drain", done).on("close", done);
          });
        }
      }
      // Never closes: only the limit can end this answer.
    });
    expect((await rejection(post(open(server), "{}", "/x", 20_000))).message).toMatch(/too large/);
  });
});

describe("Http1Connection: interim answers", () => {
  it("skips a 100 Continue (sent apart) and reads the real answer", async () => {
    const server = await startServer(async (_request, socket) => {
      socket.write("HTTP/1.1 100 Continue\r\n\r\n");
      await pause(20);
      socket.write(answer("real"));
    });
    expect(await post(open(server))).toEqual({ status: 200, statusText: "OK", text: "real" });
  });

  it("skips interim answers arriving in the same write as the real one, or byte by byte", async () => {
    const interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    const server = await startServer((request, socket) => {
      const bytes = Buffer.concat([Buffer.from(interim, "latin1"), answer(`real ${request.index}`, "201 Created")]);
      if (request.index === 0) socket.write(bytes);
      else return dribble(socket, bytes);
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 201, statusText: "Created", text: "real 0" });
    expect(await post(connection)).toEqual({ status: 201, statusText: "Created", text: "real 1" });
    expect(server.sockets).toHaveLength(1);
  });
});

describe("Http1Connection: keep-alive", () => {
  it("sends two sequential requests on one connection, each with the right head and body", async () => {
    const server = await startServer((request, socket) => {
      socket.write(answer(`{"ok":true,"n":${request.index}}`));
    });
    const connection = open(server);
    const first = '{"offset":0,"limit":100,"timeout":0}';
    const second = '{"offset":7,"text":"✓ سلام"}'; // multi-byte: Content-Length counts bytes
    expect(await post(connection, first, "/bot1:token/getUpdates")).toEqual({ status: 200, statusText: "OK", text: '{"ok":true,"n":0}' });
    expect(await post(connection, second, "/bot1:token/getUpdates?x=1")).toEqual({ status: 200, statusText: "OK", text: '{"ok":true,"n":1}' });
    expect(server.sockets).toHaveLength(1);
    expect(server.requests.map((r) => [r.connection, r.onConnection])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    const [a, b] = server.requests;
    expect(a!.requestLine).toBe("POST /bot1:token/getUpdates HTTP/1.1");
    expect(b!.requestLine).toBe("POST /bot1:token/getUpdates?x=1 HTTP/1.1");
    for (const [request, body] of [
      [a!, first],
      [b!, second],
    ] as const) {
      expect(request.body).toBe(body);
      expect(request.headers).toEqual({
        host: `127.0.0.1:${server.port}`,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        connection: "keep-alive",
      });
    }
    expect(Buffer.byteLength(second)).toBeGreaterThan(second.length);
  });

  it("keeps the connection across non-2xx answers with bodies", async () => {
    const server = await startServer((request, socket) => {
      socket.write(request.index === 0 ? answer('{"ok":false,"error_code":429}', "429 Too Many Requests", ["Retry-After: 3"]) : answer("fine"));
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 429, statusText: "Too Many Requests", text: '{"ok":false,"error_code":429}' });
    expect((await post(connection)).text).toBe("fine");
    expect(server.sockets).toHaveLength(1);
  });

  it("sends the Host header of an IPv6 origin in brackets", async (context) => {
    const server = await startServer((_request, socket) => void socket.write(answer("v6")), { host: "::1" }).catch(() => undefined);
    if (server === undefined) return context.skip("no IPv6 loopback here");
    expect(server.url.href).toBe(`http://[::1]:${server.port}/`);
    expect((await post(open(server))).text).toBe("v6");
    expect(server.requests[0]!.headers.host).toBe(`[::1]:${server.port}`);
  });

  it("survives the keep-alive race: the server closes the idle socket right after the first answer", async () => {
    const server = await startServer((request, socket) => {
      socket.write(answer(`answer ${request.index}`));
      if (request.connection === 0) socket.end(); // no "Connection: close": the client cannot know
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("answer 0");
    // At once: the second request may be written to the closing socket.
    expect((await post(connection, '{"second":true}')).text).toMatch(/^answer \d$/);
    expect(server.sockets).toHaveLength(2);
    expect(server.requests.at(-1)).toMatchObject({ connection: 1, body: '{"second":true}' });
  });

  it("uses a new connection after the server closed the idle one (close seen before the next request)", async () => {
    const server = await startServer(async (request, socket) => {
      socket.write(answer(`answer ${request.index}`));
      if (request.connection === 0) {
        await pause(20);
        socket.end();
      }
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("answer 0");
    await server.closed(0);
    await pause(20);
    expect((await post(connection)).text).toBe("answer 1");
    expect(server.sockets).toHaveLength(2);
    expect(server.requests.map((r) => r.connection)).toEqual([0, 1]);
  });

  it("sends a request once more on a new connection when the reused one closes before any answer byte", async () => {
    const server = await startServer((request, socket) => {
      if (request.connection === 0 && request.onConnection === 1) socket.destroy(); // the race, made certain
      else socket.write(answer(`answer ${request.index} on ${request.connection}`));
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("answer 0 on 0");
    expect((await post(connection, '{"offset":5}')).text).toBe("answer 2 on 1");
    expect(server.sockets).toHaveLength(2);
    expect(server.requests.map((r) => [r.connection, r.body])).toEqual([
      [0, "{}"],
      [0, '{"offset":5}'],
      [1, '{"offset":5}'],
    ]);
  });

  it("sends a request once more when the reused connection is reset before any answer byte", async () => {
    const server = await startServer((request, socket) => {
      if (request.connection === 0 && request.onConnection === 1) socket.resetAndDestroy();
      else socket.write(answer(`answer ${request.index}`));
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("answer 0");
    expect((await post(connection)).text).toBe("answer 2");
    expect(server.sockets).toHaveLength(2);
  });

  it("retries the keep-alive race only once: a new connection that fails too rejects", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0 || request.index >= 3) socket.write(answer(`answer ${request.index}`));
      else socket.destroy();
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("answer 0");
    const error = await rejection(post(connection));
    expect(error.message).toMatch(/closed before the answer was complete/);
    expect(server.requests.map((r) => r.connection)).toEqual([0, 0, 1]);
    // A fresh connection (not reused) that fails is never retried: the next request works.
    expect((await post(connection)).text).toBe("answer 3");
    expect(server.sockets).toHaveLength(3);
  });

  it("opens a new connection after an answer with Connection: close, and closes the old one", async () => {
    const server = await startServer((request, socket) => {
      // The server leaves its side open: the client must not reuse it.
      socket.write(request.index === 0 ? answer("closing", "200 OK", ["Connection: close"]) : answer("new"));
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("closing");
    await server.closed(0); // the client closed it
    expect((await post(connection)).text).toBe("new");
    expect(server.sockets).toHaveLength(2);
    expect(server.requests.map((r) => r.connection)).toEqual([0, 1]);
  });

  it("does not reuse an HTTP/1.0 answer's connection unless it says keep-alive", async () => {
    const server = await startServer((request, socket) => {
      if (request.connection === 0) socket.write("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\none");
      else socket.write(`HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n${request.onConnection === 0 ? "two" : "thr"}`);
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("one");
    expect((await post(connection)).text).toBe("two");
    expect((await post(connection)).text).toBe("thr");
    expect(server.requests.map((r) => r.connection)).toEqual([0, 1, 1]);
  });

  it("drops a connection with bytes beyond the answer, and one that sends bytes while idle", async () => {
    const server = await startServer(async (request, socket) => {
      if (request.connection === 0) socket.write(Buffer.concat([answer("with junk"), Buffer.from("HTTP/1.1 200 OK\r\n")]));
      else if (request.connection === 1) {
        socket.write(answer("then unsolicited"));
        await pause(20);
        socket.write(answer("nobody asked"));
      } else socket.write(answer(`clean ${request.connection}`));
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("with junk");
    await server.closed(0);
    expect((await post(connection)).text).toBe("then unsolicited");
    await server.closed(1);
    expect((await post(connection)).text).toBe("clean 2");
    expect(server.sockets).toHaveLength(3);
  });
});

describe("Http1Connection: timeouts and aborts", () => {
  it("rejects when no answer arrives in time, and the next request works on a new connection", async () => {
    const server = await startServer((request, socket) => {
      if (request.index > 0) socket.write(answer("late but fine"));
    });
    const connection = open(server);
    const started = Date.now();
    const error = await rejection(connection.post("/x", "{}", never(), 200));
    expect(error.message).toMatch(/no answer within 200 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await server.closed(0); // the timed-out connection was closed
    expect((await post(connection)).text).toBe("late but fine");
    expect(server.sockets).toHaveLength(2);
  });

  it("times out an answer that stops half way, and ignores what the old connection sends later", async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await startServer(async (request, socket) => {
      if (request.index === 0) {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
        await released;
        if (!socket.destroyed) socket.write("the rest.");
      } else socket.write(answer("second"));
    });
    const connection = open(server);
    expect((await rejection(connection.post("/x", "{}", never(), 200))).message).toMatch(/200 ms/);
    release();
    expect((await post(connection)).text).toBe("second");
  });

  it("rejects promptly on abort, and the next request works", async () => {
    const controller = new AbortController();
    const server = await startServer((request, socket) => {
      if (request.index === 0) setTimeout(() => controller.abort(), 20);
      else socket.write(answer("after abort"));
    });
    const connection = open(server);
    const started = Date.now();
    const error = await rejection(connection.post("/x", "{}", controller.signal, 30_000));
    expect(error.message).toMatch(/abort/i);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await post(connection)).text).toBe("after abort");
    expect(server.sockets).toHaveLength(2);
  });

  it("rejects at once with a pre-aborted signal, without connecting", async () => {
    const server = await startServer((_request, socket) => void socket.write(answer("fine")));
    const connection = open(server);
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(connection.post("/x", "{}", controller.signal, 30_000));
    expect(error.message).toMatch(/abort/i);
    await pause(50);
    expect(server.sockets).toHaveLength(0);
    expect((await post(connection)).text).toBe("fine");
  });

  it("ignores an abort after the answer arrived", async () => {
    const server = await startServer((request, socket) => void socket.write(answer(`n${request.index}`)));
    const connection = open(server);
    const controller = new AbortController();
    expect((await connection.post("/x", "{}", controller.signal, 30_000)).text).toBe("n0");
    controller.abort();
    expect((await post(connection)).text).toBe("n1");
    expect(server.sockets).toHaveLength(1);
  });
});

describe("Http1Connection: failures", () => {
  it("rejects garbage instead of a status line with a clear error, then recovers", async () => {
    const server = await startServer((request, socket) => {
      socket.write(request.index === 0 ? "SSH-2.0-OpenSSH_9.6\r\n\r\n" : answer("fine"));
    });
    const connection = open(server);
    expect((await rejection(post(connection))).message).toBe('not an HTTP/1.1 answer: "SSH-2.0-OpenSSH_9.6"');
    expect((await post(connection)).text).toBe("fine");
    expect(server.sockets).toHaveLength(2);
  });

  it("rejects an HTTP/2 status line and garbage ended by the close", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write("HTTP/2 200\r\n\r\n");
      else socket.end("<html>not http");
    });
    const connection = open(server);
    expect((await rejection(post(connection))).message).toMatch(/not an HTTP\/1\.1 answer: "HTTP\/2 200"/);
    expect((await rejection(post(connection))).message).toMatch(/closed before the answer was complete/);
  });

  it("rejects invalid and oversized Content-Length values and oversized headers", async () => {
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n");
      else if (request.index === 1) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024 * 1024 + 1}\r\n\r\n`);
      else socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${"x".repeat(70 * 1024)}`);
    });
    const connection = open(server);
    expect((await rejection(post(connection))).message).toBe('invalid Content-Length "12abc"');
    expect((await rejection(post(connection))).message).toMatch(/too large/);
    expect((await rejection(post(connection))).message).toMatch(/headers are too large/);
  });

  it("rejects a reset in the middle of a body on a reused connection, without retrying", async () => {
    const server = await startServer(async (request, socket) => {
      if (request.index === 0) socket.write(answer("first"));
      else {
        await writeParts(socket, ["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "0123456789"]);
        socket.resetAndDestroy();
      }
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("first");
    const error = await rejection(post(connection));
    expect(error.message).toMatch(/ECONNRESET|closed before the answer was complete/);
    await pause(100);
    expect(server.requests).toHaveLength(2); // the second request was sent once
    expect(server.sockets).toHaveLength(1);
  });

  it("rejects a close in the middle of a Content-Length or chunked body, without retrying", async () => {
    const server = await startServer(async (request, socket) => {
      if (request.index === 0) socket.write(answer("first"));
      else if (request.index === 1) {
        await writeParts(socket, ["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "0123456789"]);
        socket.end();
      } else {
        await writeParts(socket, ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\n0123"]);
        socket.end();
      }
    });
    const connection = open(server);
    expect((await post(connection)).text).toBe("first");
    expect((await rejection(post(connection))).message).toBe("the connection closed before the answer was complete");
    expect((await rejection(post(connection))).message).toBe("the connection closed before the answer was complete");
    await pause(100);
    expect(server.requests.map((r) => r.connection)).toEqual([0, 0, 1]);
  });

  it("resolves non-2xx answers normally, with their status and text", async () => {
    const html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    const server = await startServer((request, socket) => {
      if (request.index === 0) socket.write(answer(html, "502 Bad Gateway", ["Server: nginx", "Content-Type: text/html"]));
      else if (request.index === 1) socket.write(answer('{"ok":false,"error_code":401,"description":"Unauthorized"}', "401 Unauthorized"));
      else socket.end("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ntry later");
    });
    const connection = open(server);
    expect(await post(connection)).toEqual({ status: 502, statusText: "Bad Gateway", text: html });
    expect(await post(connection)).toEqual({ status: 401, statusText: "Unauthorized", text: '{"ok":false,"error_code":401,"description":"Unauthorized"}' });
    expect(await post(connection)).toEqual({ status: 503, statusText: "Service Unavailable", text: "try later" });
  });

  it("rejects a refused connection with ECONNREFUSED", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const connection = open(new URL(`http://127.0.0.1:${port}`));
    const error = await rejection(post(connection));
    expect(error.message).toContain("ECONNREFUSED");
    // And again: the failed connection left nothing behind.
    expect((await rejection(post(connection))).message).toContain("ECONNREFUSED");
  });

  it("refuses a second request while one is in flight", async () => {
    const server = await startServer(async (_request, socket) => {
      await pause(50);
      socket.write(answer("only one"));
    });
    const connection = open(server);
    const first = post(connection);
    expect((await rejection(post(connection))).message).toMatch(/already in flight/);
    expect((await first).text).toBe("only one");
    expect(server.requests).toHaveLength(1);
  });

  it("close() fails the request in flight, closes the socket, and refuses later requests", async () => {
    const server = await startServer(() => {});
    const connection = open(server);
    const inFlight = post(connection);
    while (server.requests.length === 0) await pause(5);
    connection.close();
    expect((await rejection(inFlight)).message).toBe("the connection was closed");
    await server.closed(0);
    expect((await rejection(post(connection))).message).toBe("the connection was closed");
    expect(server.sockets).toHaveLength(1);
  });
});
