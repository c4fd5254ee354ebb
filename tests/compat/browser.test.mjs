// Real-browser tests of the demo web app, run once per engine listed in BROWSERS (default
// "chromium,firefox"): Debian's Chromium (/usr/bin/chromium, CHROMIUM_PATH) over CDP and
// Debian's Firefox ESR (/usr/bin/firefox-esr, FIREFOX_PATH) over WebDriver BiDi, both driven by
// puppeteer-core. Checked in each: server-rendered data before any script runs, live updates
// between two browser contexts, one wire subscription for header and sidebar, the SSR + cached
// WebSocket pattern in the function log, query options, client tokens, and no JWT in the HTML.
// All tests share one server and read its function log, so they run one after another.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import puppeteer from "puppeteer-core";

const BIN = process.env.FERROVEX_BIN;
if (!BIN) throw new Error("FERROVEX_BIN must point at the ferrovex binary");
const BROWSERS = (process.env.BROWSERS ?? "chromium,firefox").split(",").map((b) => b.trim()).filter(Boolean);
const TIMEOUT = 15000;

// How each engine is started (`firefoxPrefs`: extra Firefox preferences).
const ENGINES = {
  chromium: {
    name: "Chromium",
    launch: () =>
      puppeteer.launch({
        browser: "chrome",
        executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      }),
  },
  firefox: {
    name: "Firefox",
    launch: (firefoxPrefs = {}) =>
      puppeteer.launch({
        browser: "firefox",
        executablePath: process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr",
        headless: true,
        extraPrefsFirefox: firefoxPrefs,
      }),
  },
};
for (const b of BROWSERS) if (!ENGINES[b]) throw new Error(`unknown browser ${b} in BROWSERS (known: ${Object.keys(ENGINES)})`);

let server, dir, urls = {}, stdout = [];

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
});

after(async () => {
  if (server) server.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200));
  if (server) server.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ page helpers

// A page of the web app in a fresh browser context (its own cookies); close it with
// `page.browserContext().close()`.
async function open(browser, path = "/") {
  const page = await (await browser.createBrowserContext()).newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(urls.web + path);
  return page;
}

// Waits until `fn(arg)` is truthy in the page. Polls on a timer rather than on animation
// frames, which Firefox throttles in background tabs (all contexts share one window there).
function until(page, fn, arg) {
  return page.waitForFunction(fn, { polling: 50, timeout: TIMEOUT }, arg);
}

const text = (page, selector) => page.evaluate((s) => document.querySelector(s).textContent, selector);
const texts = (page, selector) => page.evaluate((s) => [...document.querySelectorAll(s)].map((e) => e.textContent), selector);
const fill = (page, selector, value) => page.locator(selector).fill(value);
const click = (page, selector) => page.locator(selector).click();
const live = (page) => until(page, () => document.getElementById("connection").textContent === "live");

// A page with scripts disabled, in a fresh context, and how to dispose of it. Firefox 140 ESR
// lacks the WebDriver BiDi command behind setJavaScriptEnabled (emulation.setScriptingEnabled:
// "unknown command"), so there a second Firefox runs with the javascript.enabled pref off.
async function openWithoutScripts(engine, browser, path = "/") {
  const context = await browser.createBrowserContext();
  let page = await context.newPage();
  let close = () => context.close();
  try {
    await page.setJavaScriptEnabled(false);
  } catch (e) {
    if (engine !== "firefox" || !/unknown command/.test(e.message)) throw e;
    await context.close();
    const noScripts = await ENGINES.firefox.launch({ "javascript.enabled": false });
    page = await noScripts.newPage();
    close = () => noScripts.close();
  }
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(urls.web + path);
  return { page, close };
}

// ------------------------------------------------------------------ server helpers

async function send(body) {
  const r = await fetch(`${urls.api}/api/mutation`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ path: "messages:send", args: { author: "server", body } }),
  });
  assert.equal((await r.json()).status, "success");
}

// A Convex JWT of a user signed up once on the site origin, as a Node caller does it (with an
// Origin, keeping the cookie): the demo's shared writes (settings, posts) need a signed-in user.
let serverToken;
async function serverUserToken() {
  if (serverToken) return serverToken;
  const email = `server${Math.random().toString(36).slice(2)}@example.com`;
  const r = await fetch(`${urls.site}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: urls.site },
    body: JSON.stringify({ name: "Server", email, password: "server password 1" }),
  });
  assert.equal(r.status, 200, await r.text());
  const cookie = r.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  serverToken = (await (await fetch(`${urls.site}/api/auth/convex/token`, { headers: { cookie } })).json()).token;
  assert.ok(serverToken, "a token for the server-side user");
  return serverToken;
}

// Runs a mutation as the server-side user.
async function mutate(path, args) {
  const headers = { "content-type": "application/json", authorization: `Bearer ${await serverUserToken()}` };
  const r = await fetch(`${urls.api}/api/mutation`, { method: "POST", headers, body: JSON.stringify({ path, args }) });
  const body = await r.json();
  assert.equal(body.status, "success", JSON.stringify(body));
}

function linesFor(start, path) {
  return stdout.slice(start).filter((l) => l.startsWith(`Q ${path} `));
}

// Fills in and submits the sign-up form the page shows, then waits for the signed-in chat
// page (loaded, the user in the sidebar).
async function signUp(page, name, email, password) {
  await fill(page, "#name", name);
  await fill(page, "#email", email);
  await fill(page, "#password", password);
  await click(page, "#auth button");
  await until(page, (u) => location.href === u && document.readyState === "complete", urls.web + "/");
  await until(page, (n) => document.getElementById("sidebar-user").textContent === n, name);
}

// ------------------------------------------------------------------ the suites, per engine

for (const engine of BROWSERS) {
  const { name, launch } = ENGINES[engine];

  describe(name, () => {
    let browser;
    before(async () => {
      browser = await launch();
    });
    after(async () => {
      if (browser) await browser.close();
    });

    describe(`demo web app in ${name}`, () => {
      test("the server-rendered HTML already holds the data before any script runs", async () => {
        const message = `ssr-${Math.random().toString(36).slice(2)}`;
        await send(message);
        const { page, close } = await openWithoutScripts(engine, browser);
        const items = await texts(page, "#messages li");
        assert.ok(items.some((t) => t.includes(message)), `no ${message} in ${JSON.stringify(items)}`);
        await close();
      });

      test("a message sent from a second browser appears in the first without a reload", async () => {
        const pageA = await open(browser);
        const pageB = await open(browser);
        await live(pageA);
        const message = `live-${Math.random().toString(36).slice(2)}`;
        await fill(pageB, "#body", message);
        await click(pageB, "#send button");
        await until(pageA, (t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes(t)), message);
        await pageA.browserContext().close();
        await pageB.browserContext().close();
      });

      test("header and sidebar share one wire subscription, and SSR hands over to a cached WebSocket run", async () => {
        const start = stdout.length;
        const page = await open(browser);
        await live(page);
        // Three query() calls on the page (header, sidebar, messages), two distinct queries.
        await waitFor(async () => (await page.evaluate(() => Ferrovex.debug.wireSubscriptions())) === 2, "two wire subscriptions");
        await waitFor(() => stdout.slice(start).some((l) => l.startsWith("Q auth:getCurrentUser (WebSocket)")), "the WebSocket run");
        // The seed's pattern: the SSR run over the HTTP API, then the subscription served from the
        // cache over the WebSocket.
        const lines = stdout.slice(start).filter((l) => l.startsWith("Q auth:getCurrentUser"));
        assert.equal(lines.length, 2, lines.join("\n"));
        assert.ok(lines[0].startsWith("Q auth:getCurrentUser (HTTP API) success"), lines[0]);
        assert.equal(lines[1], "Q auth:getCurrentUser (WebSocket) success (cached) 0ms");
        await page.browserContext().close();
      });

      test("signing up in the browser shows the user live, and the HTML never holds the JWT", async () => {
        const page = await open(browser, "/sign-up");
        await signUp(page, "Browser User", `b${Math.random().toString(36).slice(2)}@example.com`, "browser password 1");
        const cookies = await page.browserContext().cookies();
        const jwt = cookies.find((c) => c.name === "better-auth.convex_jwt");
        assert.ok(jwt, "the convex_jwt cookie is set");
        // The page as the browser's cookies get it (all of them belong to the test host).
        const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
        const html = await (await fetch(urls.web, { headers: { cookie } })).text();
        assert.ok(html.includes("Browser User"), "the signed-in page is rendered for the user");
        assert.ok(!html.includes(jwt.value) && !/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./.test(html), "no JWT in the HTML");
        await page.browserContext().close();
      });
    });

    describe(`query options in ${name}`, () => {
      test("the settings page (subscribe: false) ignores server writes until refresh()", async () => {
        const start = stdout.length;
        const page = await open(browser, "/settings");
        await live(page);
        const before = await text(page, "#motd");
        const motd = `motd-${Math.random().toString(36).slice(2)}`;
        await mutate("config:setSettings", { motd });
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await text(page, "#motd"), before, "no live update without a subscription");
        await click(page, "#refresh");
        await until(page, (m) => document.getElementById("motd").textContent === m, motd);
        // Only HTTP API executions for this query: the SSR one and the refresh.
        await waitFor(() => linesFor(start, "config:getSettings").length >= 2, "two executions");
        const lines = linesFor(start, "config:getSettings");
        assert.ok(lines.every((l) => l.includes("(HTTP API)")), lines.join("\n"));
        await page.browserContext().close();
      });

      test("a query that starts as 'skip' and later gets args receives live updates", async () => {
        const page = await open(browser, "/search");
        await live(page);
        const word = `w${Math.random().toString(36).slice(2)}`;
        await fill(page, "#q", word);
        await click(page, "#search button");
        await mutate("posts:create", { title: `About ${word}`, body: "created on the server" });
        await until(page, (w) => document.getElementById("live").textContent.includes(w), word);
        await page.browserContext().close();
      });

      test("server: false runs only over the WebSocket; both false is one HTTP fetch from the browser", async () => {
        let start = stdout.length;
        const page = await open(browser, "/session");
        await until(page, () => document.getElementById("session").textContent === "Not signed in");
        await waitFor(() => linesFor(start, "session:get").length >= 1, "the session:get execution");
        assert.ok(linesFor(start, "session:get").every((l) => l.includes("(WebSocket)")), linesFor(start, "session:get").join("\n"));
        start = stdout.length;
        await page.goto(`${urls.web}/reports`);
        await until(page, () => document.getElementById("report").textContent.includes("messages"));
        await new Promise((r) => setTimeout(r, 300));
        const lines = linesFor(start, "reports:get");
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.ok(lines[0].includes("(HTTP API)"), lines[0]);
        await page.browserContext().close();
      });
    });

    describe(`optimistic updates in ${name}`, () => {
      test("an optimistic result shows first and gives way to the server's; a failed mutation rolls it back", async () => {
        const page = await open(browser, "/");
        await live(page);
        const channel = `o${Math.random().toString(36).slice(2, 10)}`;
        const r = await page.evaluate(async (channel) => {
          const seen = [];
          Ferrovex.query("messages:list", { channel }, {}, (msgs) => msgs && seen.push(msgs.map((m) => m.body + (m.pending ? "*" : ""))));
          while (seen.length === 0) await new Promise((res) => setTimeout(res, 20));
          const add = (store, args) => {
            const current = store.getQuery("messages:list", { channel }) || [];
            store.setQuery("messages:list", { channel }, [...current, { body: args.body, pending: true }]);
          };
          await Ferrovex.mutation("messages:send", { channel, author: "o", body: "hello" }, { optimisticUpdate: add });
          const confirmed = seen[seen.length - 1];
          let failure = null;
          try {
            await Ferrovex.mutation("messages:send", { channel, author: "o", body: "" }, { optimisticUpdate: add });
          } catch (e) {
            failure = e.data && e.data.code;
          }
          // As JSON: WebDriver BiDi hands back repeated references as undefined.
          return JSON.stringify({ seen, confirmed, failure, last: seen[seen.length - 1] });
        }, channel).then(JSON.parse);
        const at = (v) => r.seen.findIndex((s) => JSON.stringify(s) === JSON.stringify(v));
        assert.deepEqual(r.seen[0], [], JSON.stringify(r.seen));
        assert.ok(at(["hello*"]) > 0 && at(["hello*"]) < at(["hello"]), `optimistic first: ${JSON.stringify(r.seen)}`);
        assert.deepEqual(r.confirmed, ["hello"], "the server's result replaced the optimistic one when the mutation resolved");
        assert.ok(!r.seen.some((s) => s.includes("hello") && s.includes("hello*")), `never both: ${JSON.stringify(r.seen)}`);
        assert.equal(r.failure, "INVALID_BODY");
        assert.ok(at(["hello", "*"]) > at(["hello"]), `the failing one showed too: ${JSON.stringify(r.seen)}`);
        assert.deepEqual(r.last, ["hello"], "and was rolled back");
        await page.browserContext().close();
      });
    });

    describe(`paginated queries in ${name}`, () => {
      test("loadMore adds pages, and every loaded page stays live and keeps its place", async () => {
        const channel = `h${Math.random().toString(36).slice(2, 10)}`;
        for (let i = 1; i <= 7; i++) await mutate("messages:send", { channel, author: "pager", body: `m${i}` });
        // The first page is in the server-rendered HTML.
        const bare = await openWithoutScripts(engine, browser, `/history?channel=${channel}`);
        assert.deepEqual(await texts(bare.page, "#pages li"), ["pager m7", "pager m6", "pager m5", "pager m4", "pager m3"]);
        await bare.close();
        const start = stdout.length;
        const page = await open(browser, `/history?channel=${channel}`);
        const status = (s) => until(page, (want) => document.getElementById("history").dataset.status === want, s);
        await status("CanLoadMore");
        // Hydrated from the page: the SSR run, then one WebSocket subscription, already pinned
        // (no second run of the unpinned first page).
        await waitFor(() => linesFor(start, "messages:page").length >= 2, "the pinned subscription");
        await new Promise((r) => setTimeout(r, 300));
        const runs = linesFor(start, "messages:page");
        assert.equal(runs.length, 2, runs.join("\n"));
        assert.ok(runs[0].includes("(HTTP API)") && runs[1].includes("(WebSocket)"), runs.join("\n"));
        const bodies = () => texts(page, "#pages li");
        assert.deepEqual(await bodies(), ["pager m7", "pager m6", "pager m5", "pager m4", "pager m3"]);
        await click(page, "#more");
        await status("Exhausted");
        assert.deepEqual(await bodies(), ["pager m7", "pager m6", "pager m5", "pager m4", "pager m3", "pager m2", "pager m1"]);
        // A new message lands in the first page, which grows: nothing is pushed into the next
        // page twice or lost between them.
        await mutate("messages:send", { channel, author: "pager", body: "m8" });
        await until(page, () => document.querySelectorAll("#pages li").length === 8);
        assert.deepEqual(await bodies(), ["pager m8", "pager m7", "pager m6", "pager m5", "pager m4", "pager m3", "pager m2", "pager m1"]);
        await page.browserContext().close();
      });
    });

    describe(`client tokens in ${name}`, () => {
      test("forced refreshes reuse a fresh token, concurrent requests collapse, sign-out drops the identity", async () => {
        const page = await open(browser, "/sign-up");
        await signUp(page, "Token User", `t${Math.random().toString(36).slice(2)}@example.com`, "token password 1");
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
        await page.browserContext().close();
      });

      // Timing only (the runtime's JavaScript is the same in both engines): one browser.
      if (engine === "chromium") {
        test("the socket's token is renewed before it expires, on the same socket", async () => {
          // A deployment with 12-second tokens: renewed after 6 s, expired after 12 s.
          const dir2 = mkdtempSync(path.join(tmpdir(), "fx-short-jwt-"));
          const proc = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir2, "--jwt-lifetime-secs", "12", "--print-log", "false"], {
            env: { ...process.env, FERROVEX_LOG: "warn" },
            stdio: ["ignore", "pipe", "inherit"],
          });
          const own = {};
          readline.createInterface({ input: proc.stdout }).on("line", (line) => {
            const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
            if (m) own[m[1]] = m[2];
          });
          try {
            await waitFor(() => own.web, "the short-token server");
            const page = await (await browser.createBrowserContext()).newPage();
            page.setDefaultTimeout(TIMEOUT);
            await page.goto(own.web + "/sign-up");
            await fill(page, "#name", "Renewed User");
            await fill(page, "#email", `r${Math.random().toString(36).slice(2)}@example.com`);
            await fill(page, "#password", "renewal password 1");
            await click(page, "#auth button");
            await until(page, () => document.getElementById("sidebar-user").textContent === "Renewed User");
            const before = await page.evaluate(() => Ferrovex.debug.connections());
            // Past the first token's expiry (and the server's 5 s expiry check): still the same
            // socket, renewed at least twice, and the user's data is still served live.
            await new Promise((r) => setTimeout(r, 19000));
            const after = await page.evaluate(async () => {
              const name = await new Promise((res) => Ferrovex.query("auth:getCurrentUser", {}, {}, (u) => u !== undefined && res(u ? u.name : null)));
              // A mutation that needs the identity, on the same socket.
              const team = await Ferrovex.mutation("teams:create", { name: "Renewed team" }).then(() => "created", (e) => e.message);
              return { connections: Ferrovex.debug.connections(), refreshes: Ferrovex.debug.refreshes(), name, team };
            });
            assert.equal(after.connections, before, "no reconnect");
            assert.ok(after.refreshes >= 2, JSON.stringify(after));
            assert.equal(after.name, "Renewed User");
            assert.equal(after.team, "created");
            await page.browserContext().close();
          } finally {
            proc.kill("SIGKILL");
            rmSync(dir2, { recursive: true, force: true });
          }
        });
      }

      test("an account switch replaces the identity at once and never shows the previous user's data", async () => {
        const page = await open(browser, "/sign-up");
        const suffix = Math.random().toString(36).slice(2);
        await signUp(page, "First User", `first-${suffix}@example.com`, "switch password 1");
        await page.evaluate(async (second) => {
          await Ferrovex.signUp("Second User", second, "switch password 2");
          await Ferrovex.signOut();
        }, `second-${suffix}@example.com`);
        const seen = await page.evaluate(async (first) => {
          const values = [];
          Ferrovex.query("auth:getCurrentUser", {}, {}, (u) => values.push(u === undefined ? "cleared" : u === null ? "null" : u.name));
          await Ferrovex.signIn(first, "switch password 1");
          await new Promise((r) => setTimeout(r, 500));
          await Ferrovex.signIn(first.replace("first", "second"), "switch password 2");
          await new Promise((r) => setTimeout(r, 1000));
          return values;
        }, `first-${suffix}@example.com`);
        const firstAt = seen.indexOf("First User");
        const switchedAt = seen.indexOf("cleared", firstAt);
        assert.ok(firstAt >= 0 && switchedAt > firstAt, JSON.stringify(seen));
        assert.deepEqual([...new Set(seen.slice(switchedAt))], ["cleared", "Second User"], `no stale user after the switch: ${JSON.stringify(seen)}`);
        await page.browserContext().close();
      });
    });
  });
}
