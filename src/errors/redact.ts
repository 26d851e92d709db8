/**
 * Bot tokens look like `123456789:AAH...` (a numeric bot id, a colon, a secret of letters,
 * digits, `_` and `-`). They leak through URLs (`/bot<token>/sendMessage`) and error messages
 * of HTTP clients, so every message unlost logs or throws passes through here.
 */
const TOKEN_PATTERN = /(?<!\d)(\d{1,20}):[A-Za-z0-9_-]{8,}/g;

/** The text a redacted token is replaced with: the bot id stays, the secret goes. */
export const REDACTED = "<redacted>";

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
  let out = text.replace(TOKEN_PATTERN, (_match, id: string) => `${id}:${REDACTED}`);
  for (const secret of extraSecrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}
