import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Scrubber } from "../errors/index.js";
import { createLogger, scrubberOf } from "./logger.js";

const TOKEN = "7000001:AAHsecretPartOfTheBotToken_x42";
const SECRET = "whsec_theWebhookSecret_x42";

/** A logger writing into an array of lines. */
function capture(options: Parameters<typeof createLogger>[0] = {}): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: "debug", ...options, destination }) };
}

describe("createLogger", () => {
  it("scrubs every field of a line: nested objects, arrays, errors under any key, bindings, printf arguments", () => {
    const { lines, logger } = capture({ secrets: [TOKEN, SECRET] });
    const url = `https://bot.example.com/bot${TOKEN}/hook`;
    logger.info({ publicUrl: url, nested: { deeper: [{ header: SECRET }] } }, "webhook receiver listening");
    logger.child({ component: "webhook", path: `/bot${TOKEN}/hook` }).warn("refused");
    logger.error({ err: new Error(`GET /file/bot${TOKEN}/a.jpg failed`, { cause: new Error(SECRET) }) }, "download failed");
    logger.warn("secret %s in %s", SECRET, url);
    logger.debug({ odd: `x${TOKEN.split(":")[1]}y` }, "the secret part alone");
    const text = lines.join("");
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(text).not.toContain("AAHsecretPartOfTheBotToken_x42");
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ publicUrl: "https://bot.example.com/bot7000001:<redacted>/hook", nested: { deeper: [{ header: "<redacted>" }] } });
    expect(JSON.parse(lines[2] ?? "")).toMatchObject({ err: { message: "GET /file/bot7000001:<redacted>/a.jpg failed", cause: { message: "<redacted>" } } });
  });

  it("shares its scrubber: a secret learnt later is scrubbed from then on", () => {
    const scrubber = new Scrubber();
    const { lines, logger } = capture({ scrubber });
    expect(scrubberOf(logger)).toBe(scrubber);
    scrubber.add(SECRET);
    logger.info({ generated: SECRET }, "a generated secret");
    expect(lines.join("")).not.toContain(SECRET);
  });

  it("always scrubs the token pattern, even knowing no secret", () => {
    const { lines, logger } = capture();
    logger.info({ url: `https://api.telegram.org/bot${TOKEN}/getMe` }, "calling");
    expect(lines.join("")).toContain("bot7000001:<redacted>/getMe");
  });
});
