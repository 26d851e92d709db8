/**
 * Turns the text of a flag or an environment variable into a setting's value, or explains in
 * one sentence why it cannot.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import { LOG_LEVELS, type SettingKind } from "./settings.js";

/** A setting's value once parsed. */
export type SettingValue = string | number | boolean | number[];

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

/**
 * Parses `raw` as a value of `kind`; `origin` names where it came from (`--port`,
 * `UNLOST_WEBHOOK_PORT`) for the error message.
 *
 * @throws UnlostError `INVALID_CONFIG` saying what was expected and what was given.
 */
export function parseSettingValue(kind: SettingKind, raw: string | boolean, origin: string): SettingValue {
  if (typeof raw === "boolean") {
    if (kind === "bool") return raw;
    throw wrong(origin, "a value", "nothing");
  }
  const text = raw.trim();
  switch (kind) {
    case "string":
      if (text === "") throw wrong(origin, "a non-empty text", raw);
      return text;
    case "url":
      return parseUrl(text, origin);
    case "int":
      if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw wrong(origin, "a whole number", raw);
      return Number(text);
    case "bool":
      if (TRUE.has(text.toLowerCase())) return true;
      if (FALSE.has(text.toLowerCase())) return false;
      throw wrong(origin, "true or false (1/0, yes/no)", raw);
    case "ids": {
      const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
      if (parts.length === 0 || parts.some((p) => !/^-?\d+$/.test(p))) throw wrong(origin, "comma-separated chat ids such as 12345,-100987", raw);
      return parts.map(Number);
    }
    case "level":
      return oneOf(text, LOG_LEVELS, origin);
    case "mode":
      return oneOf(text, ["polling", "webhook"], origin);
    case "synchronous":
      return oneOf(text, ["normal", "full"], origin);
    case "durability":
      return oneOf(text, ["disk", "process"], origin);
  }
}

function parseUrl(text: string, origin: string): string {
  try {
    const url = new URL(text);
    if (url.protocol === "http:" || url.protocol === "https:") return text.replace(/\/+$/, "");
  } catch {
    // reported below
  }
  throw wrong(origin, "an http(s) URL such as http://127.0.0.1:8081", text);
}

function oneOf(text: string, allowed: readonly string[], origin: string): string {
  if (allowed.includes(text)) return text;
  throw wrong(origin, `one of ${allowed.join(", ")}`, text);
}

function wrong(origin: string, expected: string, got: string): UnlostError {
  return new UnlostError("INVALID_CONFIG", `${origin} must be ${expected}, got "${got}"`);
}
