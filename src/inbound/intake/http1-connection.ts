/**
 * One keep-alive HTTP/1.1 connection that sends a POST and reads its answer, and nothing
 * more: the transport of the lean getUpdates client (see `get-updates-client.ts`).
 *
 * Why not `node:http`, or undici: a long-polling bot sends one request at a time to one host,
 * and for a stream of full batches the general clients' machinery (request and response
 * objects, streams, events, agents, header objects) costs as much CPU as the work the batch is
 * for. Side by side in `bench:inbound`, the durable bot drained a backlog ~15% faster over this
 * connection than over `http.request` with a keep-alive agent (undici's `Client` measured
 * within noise of `http.request` there). What it does, it does by the HTTP/1.1 rules (RFC 9112):
 * `Content-Length` and `chunked` bodies, a body read to the close when the answer has neither,
 * `Connection: close`, interim 1xx answers skipped; TLS for `https:`. It does not do redirects,
 * proxies, compression or pipelining; the getUpdates client steps aside for a bot whose API
 * client is configured for any of that (custom fetch or fetch options).
 *
 * A request on a reused connection that the server closed while it was idle (the keep-alive
 * race) fails before any byte of an answer arrives; it is sent once more on a new connection.
 * Only idempotent requests belong here: getUpdates with an offset is.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";

/** An HTTP answer: status, reason phrase and body text (UTF-8). */
export interface Http1Answer {
  readonly status: number;
  readonly statusText: string;
  readonly text: string;
}

/** The largest answer accepted, bytes: a getUpdates answer is far smaller (100 updates). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
const CRLF2 = Buffer.from("\r\n\r\n");

/** What the parser has read of the current answer. */
interface Reading {
  status: number;
  statusText: string;
  /** Body bytes still expected (Content-Length framing), -1 for chunked, -2 for read-to-close. */
  remaining: number;
  keepAlive: boolean;
  body: Buffer[];
  bodyBytes: number;
}

/** The request in flight. */
interface InFlight {
  readonly resolve: (answer: Http1Answer) => void;
  readonly reject: (error: Error) => void;
  /** Whether any byte of the answer arrived (a failure before that on a reused socket is retried). */
  answered: boolean;
}

/** A keep-alive HTTP/1.1 connection to one origin; see the module comment. */
export class Http1Connection {
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;
  private socket: net.Socket | undefined;
  /** The socket has carried an answer before (a failure on it may be the keep-alive race). */
  private reused = false;
  private inFlight: InFlight | undefined;
  /** Unparsed bytes. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private reading: Reading | undefined;
  private closed = false;

  /** @param origin `http://host:port` or `https://host:port` */
  constructor(origin: URL) {
    this.secure = origin.protocol === "https:";
    this.host = origin.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = origin.port === "" ? (this.secure ? 443 : 80) : Number(origin.port);
  }

  /**
   * POSTs `body` (JSON) to `path` and resolves with the answer. One request at a time.
   * Rejects on network failure, timeout (`timeoutMs` without the full answer) or abort; the
   * connection is then closed (the next request opens a new one).
   */
  async post(path: string, body: string, signal: AbortSignal, timeoutMs: number): Promise<Http1Answer> {
    if (this.inFlight !== undefined) throw new Error("a request is already in flight on this connection");
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.hostHeader()}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n`;
    try {
      return await this.send(head + body, signal, timeoutMs);
    } catch (error) {
      if (!(error instanceof RaceError)) throw error;
      // The server closed the idle connection as we reused it: once more, on a new one.
      return this.send(head + body, signal, timeoutMs);
    }
  }

  /** Closes the connection (a request in flight fails). */
  close(): void {
    this.closed = true;
    this.fail(new Error("the connection was closed"));
  }

  private send(request: string, signal: AbortSignal, timeoutMs: number): Promise<Http1Answer> {
    return new Promise<Http1Answer>((resolve, reject) => {
      if (this.closed) return reject(new Error("the connection was closed"));
      if (signal.aborted) return reject(new Error("aborted"));
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => this.fail(new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      this.inFlight = {
        resolve: (answer) => {
          done();
          resolve(answer);
        },
        reject: (error) => {
          done();
          reject(error);
        },
        answered: false,
      };
      (this.socket ?? this.connect()).write(request);
    });
  }

  private hostHeader(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return this.port === (this.secure ? 443 : 80) ? host : `${host}:${this.port}`;
  }

  private connect(): net.Socket {
    const socket = this.secure
      ? tls.connect({ host: this.host, port: this.port, servername: net.isIP(this.host) === 0 ? this.host : undefined, ALPNProtocols: ["http/1.1"] })
      : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    this.socket = socket;
    this.reused = false;
    this.pending = [];
    this.pendingBytes = 0;
    this.reading = undefined;
    socket.on("data", (chunk: Buffer) => this.onData(socket, chunk));
    socket.on("error", (error) => this.onEnd(socket, error));
    socket.on("close", () => this.onEnd(socket, undefined));
    return socket;
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    const request = this.inFlight;
    if (request === undefined) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.drop(socket);
      return;
    }
    request.answered = true;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    try {
      this.parse();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Parses what has arrived; completes the request when its answer is whole. */
  private parse(): void {
    for (;;) {
      if (this.reading === undefined) {
        if (!this.readHead()) return;
        continue;
      }
      const reading = this.reading;
      if (reading.remaining >= 0) {
        if (reading.remaining > 0) {
          const take = Math.min(reading.remaining, this.pendingBytes);
          if (take > 0) this.moveToBody(reading, take);
          if (reading.remaining > 0) return;
        }
        this.complete(reading);
        return;
      }
      if (reading.remaining === -2) {
        // Read to the close: everything is body; the close completes it (see onEnd).
        if (reading.bodyBytes + this.pendingBytes > MAX_ANSWER_BYTES) throw new Error("the answer is too large");
        if (this.pendingBytes > 0) this.moveToBody(reading, this.pendingBytes);
        return;
      }
      if (!this.readChunk(reading)) return;
      if (this.reading === undefined) return; // the last chunk completed the answer
    }
  }

  /** Reads the status line and headers; false until they have all arrived. */
  private readHead(): boolean {
    const buffer = this.flatten();
    const end = buffer.indexOf(CRLF2);
    if (end < 0) {
      if (this.pendingBytes > 64 * 1024) throw new Error("the answer's headers are too large");
      return false;
    }
    const lines = buffer.toString("latin1", 0, end).split("\r\n");
    this.consume(end + 4);
    const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
    if (statusLine === null) throw new Error(`not an HTTP/1.1 answer: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
    const status = Number(statusLine[2]);
    if (status >= 100 && status < 200) return true; // interim (100 Continue): the real answer follows
    let length = -2;
    let chunked = false;
    let keepAlive = statusLine[1] === "1";
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") {
        if (!/^\d+$/.test(value)) throw new Error(`invalid Content-Length ${JSON.stringify(value)}`);
        length = Number(value);
      } else if (name === "transfer-encoding") chunked = /(^|,)\s*chunked\s*$/i.test(value);
      else if (name === "connection") keepAlive = /keep-alive/i.test(value) || (keepAlive && !/close/i.test(value));
    }
    if (chunked) length = -1;
    if (status === 204 || status === 304) length = 0; // never a body, whatever the headers (RFC 9112 §6.3)
    if (length > MAX_ANSWER_BYTES) throw new Error(`the answer is too large (${length} bytes)`);
    if (length === -2) keepAlive = false;
    this.reading = { status, statusText: statusLine[3] ?? "", remaining: length, keepAlive, body: [], bodyBytes: 0 };
    return true;
  }

  /** Reads one chunk of a chunked body; false until it has all arrived. */
  private readChunk(reading: Reading): boolean {
    const buffer = this.flatten();
    const lineEnd = buffer.indexOf("\r\n");
    if (lineEnd < 0) {
      // A size line (with extensions) is short; one that never ends is not HTTP.
      if (buffer.length > 4096) throw new Error("a chunk size line is too long");
      return false;
    }
    const sizeText = buffer.toString("latin1", 0, lineEnd).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`invalid chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // The last chunk, then optional trailers, then an empty line.
      const trailersEnd = buffer.indexOf("\r\n", lineEnd + 2) === lineEnd + 2 ? lineEnd + 4 : buffer.indexOf(CRLF2, lineEnd) + 4;
      if (trailersEnd < 4 || trailersEnd > buffer.length) return false;
      this.consume(trailersEnd);
      this.complete(reading);
      return true;
    }
    if (reading.bodyBytes + size > MAX_ANSWER_BYTES) throw new Error("the answer is too large");
    if (buffer.length < lineEnd + 2 + size + 2) return false;
    this.consume(lineEnd + 2);
    this.moveToBody(reading, size);
    this.consume(2);
    return true;
  }

  private complete(reading: Reading): void {
    const request = this.inFlight;
    this.reading = undefined;
    this.inFlight = undefined;
    const body = reading.body.length === 1 ? reading.body[0]! : Buffer.concat(reading.body, reading.bodyBytes);
    const socket = this.socket;
    if (!reading.keepAlive || this.pendingBytes > 0) {
      if (socket !== undefined) this.drop(socket);
    } else this.reused = true;
    request?.resolve({ status: reading.status, statusText: reading.statusText, text: body.toString("utf8") });
  }

  /** The socket ended (closed or failed). */
  private onEnd(socket: net.Socket, error: Error | undefined): void {
    if (socket !== this.socket) return;
    const reading = this.reading;
    if (error === undefined && reading !== undefined && reading.remaining === -2) {
      // A body framed by the close is whole now.
      this.socket = undefined;
      this.complete(reading);
      return;
    }
    const request = this.inFlight;
    const race = request !== undefined && !request.answered && this.reused;
    this.drop(socket);
    if (request === undefined) return;
    this.inFlight = undefined;
    request.reject(race ? new RaceError() : (error ?? new Error("the connection closed before the answer was complete")));
  }

  /** Fails the request in flight and drops the connection. */
  private fail(error: Error): void {
    const request = this.inFlight;
    this.inFlight = undefined;
    if (this.socket !== undefined) this.drop(this.socket);
    request?.reject(error);
  }

  private drop(socket: net.Socket): void {
    if (socket === this.socket) {
      this.socket = undefined;
      this.reading = undefined;
      this.pending = [];
      this.pendingBytes = 0;
    }
    socket.destroy();
  }

  /** The unparsed bytes as one buffer. */
  private flatten(): Buffer {
    if (this.pending.length === 0) return Buffer.alloc(0);
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    return this.pending[0]!;
  }

  /** Drops `n` parsed bytes from the front. */
  private consume(n: number): void {
    const buffer = this.flatten();
    const rest = buffer.subarray(n);
    this.pending = rest.length === 0 ? [] : [rest];
    this.pendingBytes = rest.length;
  }

  /** Moves `n` bytes from the front of the unparsed bytes to the body (without copying whole chunks). */
  private moveToBody(reading: Reading, n: number): void {
    let left = n;
    while (left > 0) {
      const head = this.pending[0]!;
      if (head.length <= left) {
        reading.body.push(head);
        this.pending.shift();
        left -= head.length;
      } else {
        reading.body.push(head.subarray(0, left));
        this.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    this.pendingBytes -= n;
    reading.bodyBytes += n;
    if (reading.remaining > 0) reading.remaining -= n;
  }
}

/** A reused connection failed before any answer: the keep-alive race (retried once). */
class RaceError extends Error {
  constructor() {
    super("the server closed the idle connection as it was reused");
  }
}
