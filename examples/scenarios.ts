/**
 * What the simulated users do in each example, and the replies they must get. Shared by the
 * one-command runner (`npm run example:<name>`) and the examples' test.
 */
import type { SimUser } from "../src/emulator/index.js";

/** A reply a user must receive. */
export interface ExpectedReply {
  /** The user's first name. */
  readonly user: string;
  /** The reply's text must match. */
  readonly text: RegExp;
}

/** What a scenario can do while it plays. */
export interface Stage {
  /** The simulated user of that name (created on first use). */
  user(name: string): SimUser;
  /** The user sends a text (logged). */
  say(user: SimUser, text: string): void;
  /** Waits. */
  sleep(ms: number): Promise<void>;
  /** Waits until the user got a reply matching `text`. */
  replyTo(user: SimUser, text: RegExp, timeoutMs?: number): Promise<void>;
  /** Prints a line. */
  log(line: string): void;
}

/** One example: its bot module, environment and what its users do. */
export interface Scenario {
  /** The folder in examples/. */
  readonly name: string;
  /** One sentence shown before it starts. */
  readonly about: string;
  /** Extra environment of the bot process. */
  readonly env?: (stage: Stage) => Record<string, string>;
  /** What the users do. */
  play(stage: Stage): Promise<void>;
  /** Replies that must arrive for the example to pass. */
  readonly expected: readonly ExpectedReply[];
  /** A closing remark on what the run showed, from the bot's replies. */
  summary?(replies: readonly string[], elapsedMs: number): string;
}

const echo: Scenario = {
  name: "echo",
  about: "three users write to an echo bot at the same time",
  async play(s) {
    const [alice, bobur, dilnoza] = [s.user("Alice"), s.user("Bobur"), s.user("Dilnoza")];
    s.say(alice, "/start");
    s.say(alice, "hello");
    s.say(bobur, "salom");
    s.say(dilnoza, "привет");
    await s.sleep(300);
    s.say(bobur, "how are you?");
  },
  expected: [
    { user: "Alice", text: /^Hi! Send me anything/ },
    { user: "Alice", text: /^echo: hello$/ },
    { user: "Bobur", text: /^echo: salom$/ },
    { user: "Bobur", text: /^echo: how are you\?$/ },
    { user: "Dilnoza", text: /^echo: привет$/ },
  ],
};

const notifier: Scenario = {
  name: "notifier",
  about: "users subscribe, a timer sends reminders with outbox.notify, the admin broadcasts",
  env: (s) => ({ NOTIFIER_ADMIN_IDS: String(s.user("Alice").id), NOTIFIER_EVERY_MS: "1500" }),
  async play(s) {
    const [alice, bobur, dilnoza] = [s.user("Alice"), s.user("Bobur"), s.user("Dilnoza")];
    for (const u of [alice, bobur, dilnoza]) s.say(u, "/subscribe");
    await s.replyTo(dilnoza, /^subscribed/);
    s.say(bobur, "/broadcast I am not an admin");
    s.say(alice, "/broadcast the new release is out");
    await s.replyTo(alice, /^broadcast \S+ queued for 3 subscribers/);
  },
  expected: [
    { user: "Alice", text: /^subscribed/ },
    { user: "Bobur", text: /^only admins may broadcast/ },
    { user: "Alice", text: /^broadcast \S+ queued for 3 subscribers/ },
    ...["Alice", "Bobur", "Dilnoza"].flatMap((user) => [
      { user, text: /^📣 the new release is out$/ },
      { user, text: /^Reminder\n\nreminder #\d+: stretch your legs$/ },
    ]),
  ],
};

const downloader: Scenario = {
  name: "downloader",
  about: "four users send links at once; each download takes 1–3 s, and no chat waits for another",
  async play(s) {
    const links = ["https://example.com/cats.mp4", "https://example.com/talk", "https://example.com/song.mp3", "https://example.com/lecture-7"];
    ["Alice", "Bobur", "Dilnoza", "Farhod"].forEach((name, i) => s.say(s.user(name), links[i] ?? "https://example.com"));
  },
  expected: ["Alice", "Bobur", "Dilnoza", "Farhod"].flatMap((user) => [
    { user, text: /^⏳ fetching / },
    { user, text: /^✅ .+ fetched in \d+ ms$/ },
  ]),
  summary(replies, elapsedMs) {
    const total = replies.reduce((sum, text) => sum + Number(/fetched in (\d+) ms/.exec(text)?.[1] ?? 0), 0);
    return `the downloads took ${(total / 1000).toFixed(1)} s one after another; handled in parallel chats, all were answered within ${(elapsedMs / 1000).toFixed(1)} s`;
  },
};

/** Every example, by name. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = { echo, notifier, downloader };
