/**
 * Browsers: the login form trades the admin token for an HttpOnly, SameSite=Strict session
 * cookie; the overview page shows the bot's state; a POST with the cookie needs the session's
 * CSRF token; logging out ends the session. No page holds a secret.
 */
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../helpers/until.js";
import { ADMIN_TOKEN, startWithAdmin, type AdminSetup } from "./helpers.js";

let setup: AdminSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const form = (fields: Record<string, string>) => ({ method: "POST", redirect: "manual" as const, headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });

describe("the login form and the overview page", () => {
  it("logs in with the token, shows the overview, refuses a cookie POST without the CSRF token, logs out", async () => {
    const handled: string[] = [];
    setup = await startWithAdmin((bot) => bot.on("message:text", (ctx) => {
      handled.push(ctx.message.text);
    }));
    const { url, emulator, sim } = setup;
    emulator.createUser().sendText(sim, "hello");
    await until(() => handled.length === 1, 5_000, "one update handled");

    // Not logged in: the page sends the browser to the form.
    const anonymous = await fetch(`${url}/`, { redirect: "manual" });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/login");
    const loginForm = await fetch(`${url}/login`);
    expect(loginForm.status).toBe(200);
    expect(loginForm.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    expect(await loginForm.text()).toMatch(/<form method="post" action="\/login">/);

    const wrong = await fetch(`${url}/login`, form({ token: "not-the-token-0123456789" }));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await wrong.text()).toMatch(/not the admin token/);

    const ok = await fetch(`${url}/login`, form({ token: ADMIN_TOKEN }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/");
    const setCookie = ok.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^unlost_admin=[\w-]{40,};/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const cookie = setCookie.split(";")[0] as string;

    const overview = await fetch(`${url}/`, { headers: { cookie } });
    expect(overview.status).toBe(200);
    const page = await overview.text();
    expect(page).toMatch(/class="pill ok">ready</);
    expect(page).toMatch(/>1 handled</);
    for (const secret of [ADMIN_TOKEN, sim.token, sim.token.split(":")[1] as string]) expect(page).not.toContain(secret);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    expect(csrf).toMatch(/^[\w-]{40,}$/);

    // The cookie works for the API; a POST with it needs the CSRF token.
    expect((await fetch(`${url}/api/stats`, { headers: { cookie } })).status).toBe(200);
    const retry = (headers: Record<string, string>) => fetch(`${url}/api/dead-letters/retry`, { method: "POST", headers: { cookie, "content-type": "application/json", ...headers }, body: JSON.stringify({ kind: "inbox", all: true }) });
    const forged = await retry({});
    expect(forged.status).toBe(403);
    expect(JSON.parse(await forged.text()).error).toBe("csrf");
    expect((await retry({ "x-csrf-token": "x".repeat(43) })).status).toBe(403);
    expect((await retry({ "x-csrf-token": csrf })).status).toBe(200);

    const logout = await fetch(`${url}/logout`, { ...form({ _csrf: csrf }), headers: { ...form({}).headers, cookie } });
    expect(logout.status).toBe(303);
    expect(logout.headers.get("set-cookie")).toMatch(/unlost_admin=;/);
    expect((await fetch(`${url}/api/stats`, { headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${url}/`, { headers: { cookie }, redirect: "manual" })).status).toBe(303);
  });

  it("without a configured token, the form says how to set one and logs nobody in", async () => {
    const saved = process.env["UNLOST_ADMIN_TOKEN"];
    delete process.env["UNLOST_ADMIN_TOKEN"];
    try {
      setup = await startWithAdmin(() => undefined, { admin: { port: 0 } });
    } finally {
      if (saved !== undefined) process.env["UNLOST_ADMIN_TOKEN"] = saved;
    }
    const page = await fetch(`${setup.url}/login`);
    expect(page.status).toBe(403);
    expect(await page.text()).toMatch(/set UNLOST_ADMIN_TOKEN/);
    const tried = await fetch(`${setup.url}/login`, form({ token: "anything-at-all-0123456789" }));
    expect(tried.status).toBe(403);
    expect(tried.headers.get("set-cookie")).toBeNull();
  });
});
