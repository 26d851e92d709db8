/**
 * The demo's simulated users: private chats with the bot and a few groups the bot is in. Each
 * user writes now and then (a seeded Poisson process, ~one action every few seconds): texts,
 * commands, photos, presses on the buttons of the bot's `/menu`, and group messages. Every
 * update an action creates is remembered with its emulator time, for the verified summary.
 */
import type { Emulator, SimBot, SimChat, SimUser } from "../emulator/index.js";
import { createRandom, type Random } from "../emulator/random.js";
import { MENU_BUTTONS, MENU_TEXT } from "./handlers.js";

/** What a user did. */
export type ActionKind = "text" | "command" | "photo" | "button" | "group";

/** One update a simulated user created for the bot. */
export interface SentUpdate {
  /** The update's id (the bot's replies carry it). */
  readonly updateId: number;
  /** Emulator time at creation, epoch ms (the reply latency is measured from it). */
  readonly at: number;
  /** The chat written in: the user's private chat with the bot, or a group. */
  readonly chatId: number;
  /** What the user did. */
  readonly kind: ActionKind;
}

/** Options of a {@link Population}. */
export interface PopulationOptions {
  /** The emulator the users live in. */
  readonly emulator: Emulator;
  /** The bot they write to (and that is added to their groups). */
  readonly bot: SimBot;
  /** How many users. */
  readonly users: number;
  /** Seed of who does what, and when. */
  readonly seed: number;
  /** Mean time between two actions of one user, ms. Default 6 000. */
  readonly meanGapMs?: number;
}

const FIRST_NAMES = ["Alice", "Bobur", "Chen", "Dilnoza", "Emma", "Farhod", "Giulia", "Hamid", "Ines", "Jamshid", "Kate", "Lola", "Madina", "Nodir", "Olga", "Parisa", "Rustam", "Sara", "Timur", "Zarina"];
const PHRASES = ["hi!", "how are you?", "what's new?", "remind me to buy milk", "thanks 🙏", "can you help me?", "good morning ☀️", "lol", "ok, got it", "where is my order?", "🚀🚀🚀", "is this thing on?", "tell me a joke", "see you later"];
const COMMANDS = ["ping", "menu", "help", "start"];

/** Users and groups who keep writing to the bot. */
export class Population {
  /** Every update the users created, in order. */
  readonly sent: SentUpdate[] = [];
  /** The users. */
  readonly users: readonly SimUser[];
  /** The groups the bot is in. */
  readonly groups: readonly SimChat[];
  private readonly random: Random;
  private readonly groupOf = new Map<number, SimChat>();
  private readonly nextAt: number[];
  private readonly meanGapMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PopulationOptions) {
    this.random = createRandom(options.seed ^ 0x00de_0000);
    this.meanGapMs = options.meanGapMs ?? 6_000;
    const { emulator, bot } = options;
    this.users = Array.from({ length: options.users }, (_, i) => {
      const name = FIRST_NAMES[i % FIRST_NAMES.length] ?? "User";
      return emulator.createUser({ firstName: name, username: `${name.toLowerCase()}_${i + 1}`, languageCode: "en" });
    });
    // A few groups of up to 8 members each: one group per ~15 users, at most 5.
    const groupCount = options.users < 3 ? 0 : Math.min(5, Math.max(1, Math.round(options.users / 15)));
    this.groups = Array.from({ length: groupCount }, (_, g) => {
      const members = this.users.filter((_, i) => i % groupCount === g).slice(0, 8);
      const group = emulator.createGroup({ title: `Demo group ${g + 1}`, members, bots: [bot] });
      for (const m of members) this.groupOf.set(m.id, group);
      return group;
    });
    this.nextAt = this.users.map(() => 0);
  }

  /** Starts writing; `now` is the emulator's clock. */
  start(now: () => number): void {
    const t0 = now();
    // The first action of each user comes at a random moment of the first mean gap.
    for (let i = 0; i < this.nextAt.length; i++) this.nextAt[i] = t0 + this.random.next() * this.meanGapMs;
    this.timer = setInterval(() => this.tick(now()), 20);
  }

  /** Stops writing. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(now: number): void {
    for (let i = 0; i < this.users.length; i++) {
      const due = this.nextAt[i] ?? Number.POSITIVE_INFINITY;
      if (due > now) continue;
      const user = this.users[i];
      if (user !== undefined) this.act(user, now);
      // Exponential gaps: people write in bursts and pauses, not on a metronome.
      this.nextAt[i] = due + -Math.log(1 - this.random.next()) * this.meanGapMs;
      if ((this.nextAt[i] ?? 0) < now) this.nextAt[i] = now + this.random.next() * this.meanGapMs;
    }
  }

  private act(user: SimUser, now: number): void {
    const { bot } = this.options;
    const before = bot.updateLog.length;
    const r = this.random.next();
    const group = this.groupOf.get(user.id);
    let kind: ActionKind;
    let chatId = user.id;
    if (r < 0.06 && group !== undefined) {
      kind = "group";
      chatId = group.id;
      user.sendText(group, `@${bot.info.username} ${this.pick(PHRASES)}`);
    } else if (r < 0.55) {
      kind = "text";
      user.sendText(bot, this.pick(PHRASES));
    } else if (r < 0.7) {
      kind = "command";
      user.sendCommand(bot, this.pick(COMMANDS));
    } else if (r < 0.8) {
      kind = "photo";
      user.sendPhoto(bot, { sizeBytes: this.random.int(40_000, 900_000), ...(this.random.next() < 0.5 ? { caption: "look at this" } : {}) });
    } else {
      kind = this.pressOrAskForMenu(user);
    }
    for (const update of bot.updateLog.slice(before)) this.sent.push({ updateId: update.update_id, at: now, chatId, kind });
  }

  /** Presses a button on the latest menu the bot sent this user, or asks for a menu when there is none yet. */
  private pressOrAskForMenu(user: SimUser): ActionKind {
    const { bot } = this.options;
    const delivered = bot.record.to(user.id);
    for (let i = delivered.length - 1; i >= Math.max(0, delivered.length - 10); i--) {
      const m = delivered[i];
      if (m?.text?.startsWith(MENU_TEXT) !== true) continue;
      try {
        user.pressButton(bot, m.messageId, this.pick(MENU_BUTTONS).data);
        return "button";
      } catch {
        break; // not pressable after all: ask for a fresh menu
      }
    }
    user.sendCommand(bot, "menu");
    return "command";
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.random.int(0, items.length - 1)] as T;
  }
}
