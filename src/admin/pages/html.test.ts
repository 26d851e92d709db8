import { describe, expect, it } from "vitest";
import { escapeHtml, h, table } from "./html.js";
import { lineChart } from "./chart.js";

describe("the dashboard's HTML escaping", () => {
  it("escapes the five characters that matter in text and attribute values", () => {
    expect(escapeHtml(`<script>alert("x")</script> & 'y'`)).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
  });

  it("escapes every value a template holds, nested lists included, but not the HTML it made itself", () => {
    const user = '<img src=x onerror="alert(1)">';
    const out = h`<p title="${user}">${user}${[user, h`<b>${user}</b>`]}${null}${false}${3}</p>`.text;
    expect(out).not.toContain("<img");
    expect(out).toContain("<b>&lt;img");
    expect(out).toBe(`<p title="${escapeHtml(user)}">${escapeHtml(user)}${escapeHtml(user)}<b>${escapeHtml(user)}</b>3</p>`);
  });

  it("escapes table cells and chart labels", () => {
    expect(table(["<th>"], [["<td>"]]).text).not.toMatch(/<t[hd]>&|<td><td>|<th><th>/);
    expect(table(["<th>"], [["<td>"]]).text).toContain("&lt;td&gt;");
    const chart = lineChart("<b>title</b>", [1, 2], [{ name: "<i>n</i>", color: "#000", values: [1, null] }], "u").text;
    expect(chart).toContain("&lt;b&gt;title&lt;/b&gt;");
    expect(chart).toContain("&lt;i&gt;n&lt;/i&gt;");
  });
});
