/**
 * Bot tokens look like `123456789:AAH...` (a numeric bot id, a colon, a secret of letters,
 * digits, `_` and `-`). They leak through URLs (`/bot<token>/sendMessage`,
 * `/file/bot<token>/...`) and error messages of HTTP clients, so text entering unlost's logs,
 * store and errors passes through here.
 */
const TOKEN_PATTERN = /(?<!\d)(\d{1,20}):[A-Za-z0-9_-]{8,}/g;
/** A quick test for {@link TOKEN_PATTERN}, without the cost of a replace (no `g`, no capture). */
const MAYBE_TOKEN = /\d:[A-Za-z0-9_-]{8}/;

/** A real token's secret part is 35 characters; shorter ones are only taken for one on their own. */
const FULL_SECRET_LENGTH = 30;

/**
 * One match of {@link TOKEN_PATTERN}, redacted — unless it is a short `n:word` inside a
 * colon-separated key (an idempotency key `4242:10:0:sendMessage`, a task's `task:t-1:0:sendPhoto`):
 * shown as `4242:10:0:<redacted>` it would hide the method and look like a leak. A real token
 * (a 35-character secret) is redacted wherever it stands.
 */
function redactMatch(match: string, id: string, offset: number, whole: string): string {
  if (offset > 0 && whole[offset - 1] === ":" && match.length - id.length - 1 < FULL_SECRET_LENGTH) return match;
  return `${id}:${REDACTED}`;
}

/** The text a redacted token is replaced with: the bot id stays, the secret goes. */
export const REDACTED = "<redacted>";

/** Shorter extra secrets are ignored: replacing them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 4;
/** A token's secret part is scrubbed on its own (without the `id:`) only from this length. */
const MIN_TOKEN_SECRET_LENGTH = 8;

/**
 * Replaces every bot token in `text` (and every extra secret given) with a placeholder that
 * keeps the bot id, so logs still say which bot it was.
 *
 * @example
 * ```ts
 * redactSecrets("GET /bot123:AAHsecretsecret/getMe") // "GET /bot123:<redacted>/getMe"
 * ```
 */
export function redactSecrets(text: string, extraSecrets: readonly string[] = []): string {
  // Tested first: most texts hold no secret, and then nothing is allocated.
  let out = MAYBE_TOKEN.test(text) ? text.replace(TOKEN_PATTERN, redactMatch) : text;
  for (const secret of extraSecrets) {
    if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** A function that returns its text without secrets. */
export type Scrub = (text: string) => string;

/**
 * The one scrubber of a process: the token pattern (always) plus the exact secrets it was told
 * (the bot token and its secret part, the webhook secret). The runtime builds one and shares
 * it with the logger, the store and the error paths, so that all of them remove the same
 * secrets where text *enters* them; secrets learnt later (a webhook secret generated and kept
 * in the store) are added with {@link Scrubber.add} and apply everywhere at once.
 *
 * @example
 * ```ts
 * const scrubber = new Scrubber([process.env.BOT_TOKEN, webhookSecret]);
 * scrubber.scrub(`GET /file/bot${token}/photo.jpg`); // "GET /file/bot123:<redacted>/photo.jpg"
 * ```
 */
export class Scrubber {
  /** The literal secrets, longest first (a token before its own secret part). */
  private literals: string[] = [];

  /** @param secrets secrets to scrub besides the token pattern; empty and short ones are ignored. */
  constructor(secrets: Iterable<string | null | undefined> = []) {
    this.add(...secrets);
  }

  /**
   * Adds secrets. A bot token (`<id>:<secret>`) also adds its secret part, in case it appears
   * without the id. Each secret is also matched in its JSON-escaped form (log lines are JSON).
   */
  add(...secrets: Array<string | null | undefined>): this {
    const next = new Set(this.literals);
    for (const raw of secrets) {
      const secret = raw?.trim();
      if (secret === undefined || secret.length < MIN_SECRET_LENGTH) continue;
      const colon = secret.indexOf(":");
      const candidates = [secret];
      if (colon > 0 && /^\d+$/.test(secret.slice(0, colon)) && secret.length - colon - 1 >= MIN_TOKEN_SECRET_LENGTH) candidates.push(secret.slice(colon + 1));
      for (const candidate of candidates) {
        next.add(candidate);
        const escaped = JSON.stringify(candidate).slice(1, -1);
        if (escaped !== candidate) next.add(escaped);
      }
    }
    this.literals = [...next].sort((a, b) => b.length - a.length);
    return this;
  }

  /** The literal secrets known (for tests and diagnostics; never log them). */
  get secretCount(): number {
    return this.literals.length;
  }

  /**
   * `text` without tokens or known secrets. Cheap when there is nothing to do (one regex test
   * and one `includes` per secret, no allocation): it runs on every log line.
   */
  readonly scrub: Scrub = (text) => redactSecrets(text, this.literals);

  /**
   * Scrubs, in place, the message and stack of an error about to be handed to user code, and
   * of the errors it wraps (`cause`, grammY's `HttpError.error`, `AggregateError.errors`):
   * HTTP clients quote the request URL, `/bot<token>/` included. Returns the same error, so
   * its type, code and `instanceof` stay what the caller expects.
   */
  scrubError<E>(error: E): E {
    const seen = new Set<unknown>();
    const visit = (value: unknown, depth: number): void => {
      if (depth > 8 || typeof value !== "object" || value === null || seen.has(value)) return;
      seen.add(value);
      if (value instanceof Error) {
        try {
          value.message = this.scrub(value.message);
          if (value.stack !== undefined) value.stack = this.scrub(value.stack);
        } catch {
          // A frozen error cannot be cleaned; it is still handed on rather than swallowed.
        }
      }
      const v = value as { cause?: unknown; error?: unknown; errors?: unknown };
      visit(v.cause, depth + 1);
      visit(v.error, depth + 1);
      if (Array.isArray(v.errors)) for (const e of v.errors) visit(e, depth + 1);
    };
    visit(error, 0);
    return error;
  }
}
