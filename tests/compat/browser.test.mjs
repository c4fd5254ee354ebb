// Real-browser tests of the demo web app in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core): server-rendered data before any script runs, live updates
// between two browsers, one wire subscription for header and sidebar, the SSR + cached
// WebSocket pattern in the function log, and no JWT in the HTML.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

const BIN = process.env.FERROVEX_BIN;
if (!BIN) throw new Error("FERROVEX_BIN must point at the ferrovex binary");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let server, dir, urls = {}, stdout = [], browser;

async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "fx-browser-"));
  server = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir, "--auth-rate-limit", "1000"], {
    env: { ...process.env, FERROVEX_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  readline.createInterface({ input: server.stdout }).on("line", (line) => {
    stdout.push(line);
    const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  await waitFor(() => urls.web, "the server to print its URLs");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200));
  if (server) server.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function send(body) {
  const r = await fetch(`${urls.api}/api/mutation`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ path: "messages:send", args: { author: "server", body } }),
  });
  assert.equal((await r.json()).status, "success");
}

describe("demo web app in Chromium", () => {
  test("the server-rendered HTML already holds the data before any script runs", async () => {
    const text = `ssr-${Math.random().toString(36).slice(2)}`;
    await send(text);
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(urls.web);
    const items = await page.locator("#messages li").allTextContents();
    assert.ok(items.some((t) => t.includes(text)), `no ${text} in ${JSON.stringify(items)}`);
    await context.close();
  });

  test("a message sent from a second browser appears in the first without a reload", async () => {
    const a = await browser.newContext();
    const b = await browser.newContext();
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    await pageA.goto(urls.web);
    await pageB.goto(urls.web);
    await pageA.waitForFunction(() => document.getElementById("connection").textContent === "live");
    const text = `live-${Math.random().toString(36).slice(2)}`;
    await pageB.fill("#body", text);
    await pageB.click("#send button");
    await pageA.waitForFunction((t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes(t)), text, { timeout: 10000 });
    await a.close();
    await b.close();
  });

  test("header and sidebar share one wire subscription, and SSR hands over to a cached WebSocket run", async () => {
    const start = stdout.length;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(urls.web);
    await page.waitForFunction(() => document.getElementById("connection").textContent === "live");
    // Three query() calls on the page (header, sidebar, messages), two distinct queries.
    await waitFor(async () => (await page.evaluate(() => Ferrovex.debug.wireSubscriptions())) === 2, "two wire subscriptions");
    await waitFor(() => stdout.slice(start).some((l) => l.startsWith("Q auth:getCurrentUser (WebSocket)")), "the WebSocket run");
    // The seed's pattern: the SSR run over the HTTP API, then the subscription served from the
    // cache over the WebSocket.
    const lines = stdout.slice(start).filter((l) => l.startsWith("Q auth:getCurrentUser"));
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.ok(lines[0].startsWith("Q auth:getCurrentUser (HTTP API) success"), lines[0]);
    assert.equal(lines[1], "Q auth:getCurrentUser (WebSocket) success (cached) 0ms");
    await context.close();
  });

  test("signing up in the browser shows the user live, and the HTML never holds the JWT", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${urls.web}/sign-up`);
    const email = `b${Math.random().toString(36).slice(2)}@example.com`;
    await page.fill("#name", "Browser User");
    await page.fill("#email", email);
    await page.fill("#password", "browser password 1");
    await page.click("#auth button");
    await page.waitForURL(urls.web + "/");
    await page.waitForFunction(() => document.getElementById("sidebar-user").textContent === "Browser User");
    const cookies = await context.cookies();
    const jwt = cookies.find((c) => c.name === "better-auth.convex_jwt");
    assert.ok(jwt, "the convex_jwt cookie is set");
    const html = await (await page.request.get(urls.web)).text();
    assert.ok(html.includes("Browser User"), "the signed-in page is rendered for the user");
    assert.ok(!html.includes(jwt.value) && !/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./.test(html), "no JWT in the HTML");
    await context.close();
  });
});

async function mutate(path, args) {
  const r = await fetch(`${urls.api}/api/mutation`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ path, args }) });
  const body = await r.json();
  assert.equal(body.status, "success", JSON.stringify(body));
}

function linesFor(start, path) {
  return stdout.slice(start).filter((l) => l.startsWith(`Q ${path} `));
}

describe("query options in Chromium", () => {
  test("the settings page (subscribe: false) ignores server writes until refresh()", async () => {
    const start = stdout.length;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${urls.web}/settings`);
    await page.waitForFunction(() => document.getElementById("connection").textContent === "live");
    const before = await page.textContent("#motd");
    const motd = `motd-${Math.random().toString(36).slice(2)}`;
    await mutate("config:setSettings", { motd });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await page.textContent("#motd"), before, "no live update without a subscription");
    await page.click("#refresh");
    await page.waitForFunction((m) => document.getElementById("motd").textContent === m, motd);
    // Only HTTP API executions for this query: the SSR one and the refresh.
    await waitFor(() => linesFor(start, "config:getSettings").length >= 2, "two executions");
    const lines = linesFor(start, "config:getSettings");
    assert.ok(lines.every((l) => l.includes("(HTTP API)")), lines.join("\n"));
    await context.close();
  });

  test("a query that starts as 'skip' and later gets args receives live updates", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${urls.web}/search`);
    await page.waitForFunction(() => document.getElementById("connection").textContent === "live");
    const word = `w${Math.random().toString(36).slice(2)}`;
    await page.fill("#q", word);
    await page.click("#search button");
    await mutate("posts:create", { title: `About ${word}`, body: "created on the server" });
    await page.waitForFunction((w) => document.getElementById("live").textContent.includes(w), word, { timeout: 10000 });
    await context.close();
  });

  test("server: false runs only over the WebSocket; both false is one HTTP fetch from the browser", async () => {
    let start = stdout.length;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${urls.web}/session`);
    await page.waitForFunction(() => document.getElementById("session").textContent === "Not signed in");
    await waitFor(() => linesFor(start, "session:get").length >= 1, "the session:get execution");
    assert.ok(linesFor(start, "session:get").every((l) => l.includes("(WebSocket)")), linesFor(start, "session:get").join("\n"));
    start = stdout.length;
    await page.goto(`${urls.web}/reports`);
    await page.waitForFunction(() => document.getElementById("report").textContent.includes("messages"));
    await new Promise((r) => setTimeout(r, 300));
    const lines = linesFor(start, "reports:get");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(lines[0].includes("(HTTP API)"), lines[0]);
    await context.close();
  });
});

describe("client tokens in Chromium", () => {
  test("forced refreshes reuse a fresh token, concurrent requests collapse, sign-out drops the identity", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${urls.web}/sign-up`);
    await page.fill("#name", "Token User");
    await page.fill("#email", `t${Math.random().toString(36).slice(2)}@example.com`);
    await page.fill("#password", "token password 1");
    await page.click("#auth button");
    await page.waitForURL(urls.web + "/");
    await page.waitForFunction(() => document.getElementById("sidebar-user").textContent === "Token User");
    const counts = await page.evaluate(async () => {
      const t = Ferrovex.debug.tokens;
      const first = t.requests;
      await t.get(false);
      await t.get(true); // the forced refresh right after confirmation
      const afterForced = t.requests;
      t.forget();
      await Promise.all([t.get(true), t.get(true), t.get(true), t.get(true), t.get(true)]);
      return { first, afterForced, afterConcurrent: t.requests };
    });
    assert.equal(counts.afterForced, counts.first, "a forced refresh within 10 s costs no request");
    assert.equal(counts.afterConcurrent, counts.afterForced + 1, "five concurrent requests make one");
    // Sign out: the socket's identity changes before the next result; user data is cleared.
    const seen = await page.evaluate(async () => {
      const values = [];
      Ferrovex.query("auth:getCurrentUser", {}, {}, (u) => values.push(u === undefined ? "cleared" : u === null ? "null" : u.name));
      await new Promise((r) => setTimeout(r, 300));
      await Ferrovex.signOut();
      await new Promise((r) => setTimeout(r, 1000));
      return values;
    });
    const afterSignOut = seen.slice(seen.indexOf("cleared"));
    assert.ok(seen.includes("Token User") && seen.includes("cleared"), JSON.stringify(seen));
    assert.deepEqual([...new Set(afterSignOut)], ["cleared", "null"], `no stale user after sign-out: ${JSON.stringify(seen)}`);
    await context.close();
  });
});
