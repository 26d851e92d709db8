/**
 * unlost's logs: pino, JSON, one line per event. Every line is scrubbed as a whole just before
 * it is written, so the bot token (and any secret the logger's {@link Scrubber} knows) never
 * reaches a log, whichever field carries it: the message, `err`, a URL in a nested object, a
 * child logger's bindings, a printf argument.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { Scrubber } from "../errors/index.js";

export type { Logger } from "pino";

/** Options of {@link createLogger}. */
export interface LogOptions {
  /** Minimum level. Default `info` (or `LOG_LEVEL` from the environment). */
  level?: LoggerOptions["level"];
  /** Extra strings to redact (bot token, webhook secret, database password). The token pattern is always redacted. */
  secrets?: readonly string[];
  /**
   * The scrubber to clean lines with, shared with the store and the runtime (`secrets` are
   * added to it). Default: a new one. The runtime adds the bot token and the webhook secret to
   * the scrubber of a logger made here (see {@link scrubberOf}).
   */
  scrubber?: Scrubber;
  /** Where to write; default stdout. */
  destination?: NodeJS.WritableStream;
}

/** The scrubber of each logger made by {@link createLogger}. */
const scrubbers = new WeakMap<Logger, Scrubber>();

/** Creates the runtime's logger. */
export function createLogger(options: LogOptions = {}): Logger {
  const scrubber = options.scrubber ?? new Scrubber();
  scrubber.add(...(options.secrets ?? []));
  const level = options.level ?? process.env["LOG_LEVEL"] ?? "info";
  const logger = pino(
    {
      name: "unlost",
      level,
      base: { pid: process.pid },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        // The finished line, not the fields: one pass covers every field at any depth, the
        // bindings and the message, and costs one regex test plus one `includes` per secret
        // (a few hundred ns) when the line holds no secret. Tokens and secrets contain no
        // characters JSON escapes; the scrubber also knows each secret's escaped form.
        streamWrite: scrubber.scrub,
      },
    },
    (options.destination ?? process.stdout) as DestinationStream,
  );
  scrubbers.set(logger, scrubber);
  return logger;
}

/**
 * The scrubber of a logger made by {@link createLogger} (undefined for any other logger, whose
 * lines unlost cannot clean: build yours with `createLogger`, or redact in its own hooks).
 */
export function scrubberOf(logger: Logger): Scrubber | undefined {
  return scrubbers.get(logger);
}

/**
 * An error as a plain object (message, code, stack, cause). Secrets are removed by `clean`
 * (default: none; the logger scrubs whole lines).
 */
export function serializeError(err: unknown, clean: (text: string) => string = (t) => t): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: clean(String(err)) };
  const out: Record<string, unknown> = { type: err.name, message: clean(err.message) };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out["code"] = code;
  if (err.stack !== undefined) out["stack"] = clean(err.stack);
  if (err.cause !== undefined) out["cause"] = serializeError(err.cause, clean);
  return out;
}

/** A logger that writes nothing (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
