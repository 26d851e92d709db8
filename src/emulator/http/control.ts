/**
 * The HTTP control API of the emulator, for tests and tools in another process (or language):
 * faults, the clock, simulated users, and the record of deliveries. JSON in, JSON out.
 *
 * | method | path | body / answer |
 * |---|---|---|
 * | GET | /_emulator/health | `{ ok: true }` |
 * | GET | /_emulator/faults | active rules and injected counts |
 * | POST | /_emulator/faults | a {@link FaultRule} → `{ id }` |
 * | DELETE | /_emulator/faults[/id] | clear all, or one |
 * | POST | /_emulator/faults/seed | `{ seed }` |
 * | POST | /_emulator/clock/advance | `{ ms }` → `{ now }` |
 * | GET | /_emulator/bots | `[{ id, username, pending_update_count, delivered }]` |
 * | GET | /_emulator/bots/:id/record[?chat_id=] | delivered messages |
 * | POST | /_emulator/users | {@link CreateUserOptions} → `{ id }` |
 * | POST | /_emulator/users/:id/messages | `{ bot_id, text }` or `{ chat_id, text }` → the message |
 * | POST | /_emulator/users/:id/edits | `{ bot_id \| chat_id, message_id, text }` → the edited message (`edited_message` update) |
 * | POST | /_emulator/users/:id/press | `{ bot_id \| chat_id, message_id, data }` → `{ callback_query_id }` (`callback_query` update) |
 * | POST | /_emulator/users/:id/block | `{ bot_id }`: the bot's sends get 403 (`my_chat_member` update) |
 * | POST | /_emulator/users/:id/unblock | `{ bot_id }` (`my_chat_member` update) |
 * | GET | /_emulator/bots/:id/edits[?chat_id=] | edits the bot made |
 * | GET | /_emulator/bots/:id/callback-answers | the bot's answerCallbackQuery calls |
 */
import type { SimBot } from "../sim-bot.js";
import type { Destination, SimUser } from "../sim-actors.js";
import type { Emulator } from "../emulator.js";
import type { FaultRule } from "../faults.js";

/** A control API answer. */
export interface ControlAnswer {
  status: number;
  body: unknown;
}

/** Handles one control request. Never throws: bad input is a 400 that says what is wrong. */
export function handleControl(emulator: Emulator, httpMethod: string, path: string, query: URLSearchParams, body: unknown): ControlAnswer {
  try {
    return dispatch(emulator, httpMethod.toUpperCase(), path.replace(/\/+$/, "") || "/", query, body);
  } catch (error) {
    return { status: 400, body: { ok: false, error: error instanceof Error ? error.message : String(error) } };
  }
}

function dispatch(emu: Emulator, method: string, path: string, query: URLSearchParams, body: unknown): ControlAnswer {
  const input = (body ?? {}) as Record<string, unknown>;
  const ok = (result: unknown): ControlAnswer => ({ status: 200, body: { ok: true, result } });
  let m: RegExpExecArray | null;
  if (path === "/health" && method === "GET") return ok({ now: emu.clock.now() });
  if (path === "/faults") {
    if (method === "GET") return ok({ rules: emu.faults.list(), injected: emu.faults.injected() });
    if (method === "POST") return ok({ id: emu.faults.add(input as unknown as FaultRule) });
    if (method === "DELETE") {
      emu.faults.clear();
      return ok(true);
    }
  }
  if ((m = /^\/faults\/(\d+)$/.exec(path)) && method === "DELETE") return ok(emu.faults.remove(Number(m[1])));
  if (path === "/faults/seed" && method === "POST") {
    emu.faults.seed(requireNumber(input, "seed"));
    return ok(true);
  }
  if (path === "/clock/advance" && method === "POST") {
    emu.clock.advance(requireNumber(input, "ms"));
    return ok({ now: emu.clock.now() });
  }
  if (path === "/bots" && method === "GET") {
    return ok(emu.bots().map((b) => ({ id: b.id, username: b.info.username, pending_update_count: b.updates.count(), delivered: b.record.size })));
  }
  if ((m = /^\/bots\/(\d+)\/record$/.exec(path)) && method === "GET") {
    const bot = emu.bot(Number(m[1]));
    if (bot === undefined) throw new Error(`no bot with id ${m[1]}`);
    const chat = query.get("chat_id");
    return ok(chat === null ? bot.record.messages() : bot.record.to(Number(chat)));
  }
  if (path === "/users" && method === "POST") {
    return ok({ id: emu.createUser(input).id });
  }
  if ((m = /^\/bots\/(\d+)\/(edits|callback-answers)$/.exec(path)) && method === "GET") {
    const bot = requireBot(emu, Number(m[1]));
    if (m[2] === "callback-answers") return ok(bot.callbackAnswers);
    const chat = query.get("chat_id");
    return ok(bot.record.edits(chat === null ? undefined : Number(chat)));
  }
  if ((m = /^\/users\/(\d+)\/(edits|press|block|unblock)$/.exec(path)) && method === "POST") {
    const user = requireUser(emu, Number(m[1]));
    const action = m[2];
    if (action === "block" || action === "unblock") {
      const bot = requireBot(emu, requireNumber(input, "bot_id"));
      if (action === "block") user.block(bot);
      else user.unblock(bot);
      return ok(true);
    }
    const where = destination(emu, input);
    const messageId = requireNumber(input, "message_id");
    if (action === "edits") return ok(user.editText(where, messageId, requireString(input, "text")));
    return ok({ callback_query_id: user.pressButton(where, messageId, requireString(input, "data")) });
  }
  if ((m = /^\/users\/(\d+)\/messages$/.exec(path)) && method === "POST") {
    const user = emu.user(Number(m[1]));
    if (user === undefined) throw new Error(`no user with id ${m[1]}; create one with POST /_emulator/users`);
    const text = input["text"];
    if (typeof text !== "string") throw new Error(`"text" must be a string`);
    if (input["chat_id"] !== undefined) {
      const chat = emu.chat(requireNumber(input, "chat_id"));
      if (chat === undefined) throw new Error(`no group with id ${String(input["chat_id"])}`);
      return ok(user.sendText(chat, text));
    }
    const bot = emu.bot(requireNumber(input, "bot_id"));
    if (bot === undefined) throw new Error(`no bot with id ${String(input["bot_id"])}`);
    return ok(user.sendText(bot, text));
  }
  return { status: 404, body: { ok: false, error: `no control endpoint ${method} /_emulator${path}` } };
}

function requireBot(emu: Emulator, id: number): SimBot {
  const bot = emu.bot(id);
  if (bot === undefined) throw new Error(`no bot with id ${id}`);
  return bot;
}

function requireUser(emu: Emulator, id: number): SimUser {
  const user = emu.user(id);
  if (user === undefined) throw new Error(`no user with id ${id}; create one with POST /_emulator/users`);
  return user;
}

/** Where a user acts: a group (`chat_id`) or the private chat with a bot (`bot_id`). */
function destination(emu: Emulator, input: Record<string, unknown>): Destination {
  if (input["chat_id"] !== undefined) {
    const chat = emu.chat(requireNumber(input, "chat_id"));
    if (chat === undefined) throw new Error(`no group with id ${String(input["chat_id"])}`);
    return chat;
  }
  return requireBot(emu, requireNumber(input, "bot_id"));
}

function requireString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string") throw new Error(`"${name}" must be a string`);
  return value;
}

function requireNumber(input: Record<string, unknown>, name: string): number {
  const value = input[name];
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`"${name}" must be a number`);
  return value;
}
