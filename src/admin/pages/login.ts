/**
 * The login form: the admin token for a session cookie.
 *
 * @module
 */
import { bare, h } from "./html.js";

/** The login form; `message` explains a failed try. */
export function loginPage(message?: string): string {
  return bare("unlost admin: log in", h`<h1>unlost admin</h1>${message === undefined ? "" : h`<p class="bad">${message}</p>`}
<form method="post" action="/login"><label>Admin token (UNLOST_ADMIN_TOKEN) <input type="password" name="token" autocomplete="current-password" required autofocus></label> <button type="submit">Log in</button></form>`);
}
