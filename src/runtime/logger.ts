/**
 * unlost's logs: pino, JSON, one line per event. Every message and error passes through
 * token redaction, so the bot token (and any secret registered here) never reaches a log.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { redactSecrets } from "../errors/index.js";

export type { Logger } from "pino";

/** Options of {@link createLogger}. */
export interface LogOptions {
  /** Minimum level. Default `info` (or `LOG_LEVEL` from the environment). */
  level?: LoggerOptions["level"];
  /** Extra strings to redact (webhook secret, database password). The token pattern is always redacted. */
  secrets?: readonly string[];
  /** Where to write; default stdout. */
  destination?: NodeJS.WritableStream;
}

/** Creates the runtime's logger. */
export function createLogger(options: LogOptions = {}): Logger {
  const secrets = [...(options.secrets ?? [])];
  const clean = (text: string): string => redactSecrets(text, secrets);
  const level = options.level ?? process.env["LOG_LEVEL"] ?? "info";
  return pino(
    {
      name: "unlost",
      level,
      base: { pid: process.pid },
      serializers: {
        err: (err: unknown) => serializeError(err, clean),
        error: (err: unknown) => serializeError(err, clean),
      },
      hooks: {
        // The message itself, and any string argument, is redacted too.
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === "string" ? clean(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    (options.destination ?? process.stdout) as DestinationStream,
  );
}

/** An error as a plain object (message, code, stack, cause), with secrets redacted. */
export function serializeError(err: unknown, clean: (text: string) => string = (t) => redactSecrets(t)): Record<string, unknown> {
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
