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
  about: "users send links; durable tasks fetch them (3 at once, 1 per user, 3 waiting per user at most), a flaky one is retried",
  async play(s) {
    const [alice, bobur, dilnoza, farhod] = ["Alice", "Bobur", "Dilnoza", "Farhod"].map((name) => s.user(name)) as [SimUser, SimUser, SimUser, SimUser];
    s.say(alice, "https://example.com/cats.mp4");
    s.say(bobur, "https://example.com/talk");
    s.say(dilnoza, "https://example.com/flaky-song.mp3");
    // Farhod sends four links at once: three wait their turn (one of his runs at a time), the fourth is refused.
    for (let i = 1; i <= 4; i++) s.say(farhod, `https://example.com/lecture-${i}`);
  },
  expected: [
    ...["Alice", "Bobur", "Dilnoza", "Farhod"].map((user) => ({ user, text: /^⏳ queued / })),
    { user: "Alice", text: /^✅ .*cats.+ fetched in \d+ ms/ },
    { user: "Bobur", text: /^✅ .*talk.+ fetched in \d+ ms/ },
    { user: "Dilnoza", text: /^✅ .*flaky_song.+ fetched in \d+ ms/ },
    ...[1, 2, 3].map((i) => ({ user: "Farhod", text: new RegExp(`^✅ .*lecture_${i}.+ fetched in \\d+ ms`) })),
    { user: "Farhod", text: /^✋ you already have 3 links waiting; send https:\/\/example.com\/lecture-4 again/ },
  ],
  summary(replies, elapsedMs) {
    const total = replies.reduce((sum, text) => sum + Number(/fetched in (\d+) ms/.exec(text)?.[1] ?? 0), 0);
    return `the downloads took ${(total / 1000).toFixed(1)} s one after another; as tasks (3 at once, one per user) all were delivered within ${(elapsedMs / 1000).toFixed(1)} s, and every user got an answer at once`;
  },
};

const multiService: Scenario = {
  name: "multi-service",
  about: "private messages answered at once while a discovery scan, an audience scan, a publisher and continuous invitations run",
  env: (s) => ({ ADMIN_IDS: String(s.user("Alice").id), MULTI_SERVICE_FAST: "1" }),
  async play(s) {
    const [alice, bobur] = [s.user("Alice"), s.user("Bobur")];
    s.say(alice, "hello");
    s.say(bobur, "salom");
    // The publisher's first digest comes at once; by the second, the scans have run.
    await s.replyTo(alice, /^📰 digest #2/, 20_000);
    s.say(bobur, "/status");
  },
  expected: [
    { user: "Alice", text: /^you said: hello$/ },
    { user: "Bobur", text: /^you said: salom$/ },
    { user: "Alice", text: /^📰 digest #1: \d+ channels found, \d+ invited/ },
    { user: "Bobur", text: /^services:\n• audience-scan: [1-9]\d* runs, last ok[\s\S]*discovery-scan: [1-9]\d* runs, last ok[\s\S]*invitations: [1-9]\d* done/ },
  ],
};

/** Every example, by name. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = { echo, notifier, downloader, "multi-service": multiService };
