// The demo's HTTP actions on the site origin, called with Node's fetch and from a page in
// headless Chromium on another origin (the web origin), so CORS is exercised for real.
// Run by crates/cli/tests/it/http_actions.rs with SITE_URL and WEB_URL.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import puppeteer from "puppeteer-core";

const SITE = process.env.SITE_URL;
const WEB = process.env.WEB_URL;
if (!SITE || !WEB) throw new Error("SITE_URL and WEB_URL must be set");
const channel = `http-${randomUUID().slice(0, 8)}`;
const SERVER_ERROR = /^\[Request ID: [0-9a-f]+\] Server Error$/;

describe("HTTP actions from Node's fetch", () => {
  test("POST runs messages:send and GET lists the result", async () => {
    const res = await fetch(`${SITE}/demo/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ author: "node", body: "over http", channel }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const { id } = await res.json();
    assert.equal(typeof id, "string");
    const list = await (await fetch(`${SITE}/demo/messages?channel=${channel}`)).json();
    assert.deepEqual(list.map((m) => [m._id, m.body]), [[id, "over http"]]);
  });

  test("a preflight is answered for CORS routes and refused for others", async () => {
    const ok = await fetch(`${SITE}/demo/messages`, {
      method: "OPTIONS",
      headers: {
        origin: "http://elsewhere.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "*");
    assert.match(ok.headers.get("access-control-allow-methods"), /POST/);
    assert.equal(ok.headers.get("access-control-allow-headers"), "content-type");
    const refused = await fetch(`${SITE}/demo/private`, {
      method: "OPTIONS",
      headers: { origin: "http://elsewhere.example", "access-control-request-method": "POST" },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("access-control-allow-origin"), null);
  });

  test("a ConvexError answers 400 with its data", async () => {
    const res = await fetch(`${SITE}/demo/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ author: "node", body: "", channel }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: "INVALID_BODY" });
  });

  test("a body over the limit answers 413 and writes nothing", async () => {
    const body = JSON.stringify({ author: "node", body: "x".repeat(5 * 1024 * 1024), channel });
    const res = await fetch(`${SITE}/demo/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, "PayloadTooLarge");
    const list = await (await fetch(`${SITE}/demo/messages?channel=${channel}`)).json();
    assert.equal(list.length, 1);
  });

  test("a panic answers 500 with nothing internal", async () => {
    const res = await fetch(`${SITE}/demo/panic`, { method: "POST" });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.ok(!text.includes("hunter2") && !text.includes("panic"), text);
    assert.match(JSON.parse(text).message, SERVER_ERROR);
  });

  test("the handler sees the caller of a Bearer token, and anonymous callers as null", async () => {
    const anonymous = await (await fetch(`${SITE}/demo/whoami`)).json();
    assert.deepEqual(anonymous, { subject: null });
    // Other schemes are the handler's business (a webhook's Basic auth), not a 401.
    const basic = await fetch(`${SITE}/demo/whoami`, { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    assert.equal(basic.status, 200);
    assert.deepEqual(await basic.json(), { subject: null });
    const email = `http-${randomUUID().slice(0, 8)}@example.com`;
    const signUp = await fetch(`${SITE}/api/auth/sign-up/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: SITE },
      body: JSON.stringify({ name: "Hana", email, password: "correct horse battery" }),
    });
    assert.equal(signUp.status, 200);
    const { user } = await signUp.json();
    const cookie = signUp.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const { token } = await (await fetch(`${SITE}/api/auth/convex/token`, { headers: { cookie } })).json();
    const me = await (await fetch(`${SITE}/demo/whoami`, { headers: { authorization: `Bearer ${token}` } })).json();
    assert.deepEqual(me, { subject: user.id });
    const forged = await fetch(`${SITE}/demo/whoami`, { headers: { authorization: `Bearer ${token}x` } });
    assert.equal(forged.status, 401);
  });

  test("wrong methods, unknown paths and auth's own paths", async () => {
    const wrong = await fetch(`${SITE}/demo/messages`, { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.match(wrong.headers.get("allow"), /GET/);
    assert.equal((await fetch(`${SITE}/demo/nothing`)).status, 404);
    assert.equal((await fetch(`${SITE}/api/auth/not-a-route`)).status, 404);
    const session = await fetch(`${SITE}/api/auth/get-session`);
    assert.equal(session.status, 200);
  });
});

describe("HTTP actions from headless Chromium on another origin", () => {
  let browser;
  let page;
  before(async () => {
    browser = await puppeteer.launch({
      headless: true,
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    page = await browser.newPage();
    await page.goto(`${WEB}/sign-in`);
  });
  after(async () => browser?.close());

  const inPage = (fn, ...args) => page.evaluate(fn, ...args);

  test("a JSON POST (preflighted) reaches the action and its answer is readable", async () => {
    const result = await inPage(
      async (site, channel) => {
        const res = await fetch(`${site}/demo/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ author: "chromium", body: "from a page", channel }),
        });
        return { status: res.status, body: await res.json(), origin: location.origin };
      },
      SITE,
      channel,
    );
    assert.equal(result.status, 200, JSON.stringify(result));
    assert.notEqual(result.origin, new URL(SITE).origin);
    assert.equal(typeof result.body.id, "string");
  });

  test("errors are readable too: 400 with data, 413, 500 without internals", async () => {
    const result = await inPage(
      async (site) => {
        const post = (path, body) =>
          fetch(`${site}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
        const invalid = await post("/demo/messages", JSON.stringify({ author: "c", body: "" }));
        const big = await post("/demo/messages", JSON.stringify({ author: "c", body: "y".repeat(5 * 1024 * 1024) }));
        return {
          invalid: [invalid.status, await invalid.json()],
          big: big.status,
        };
      },
      SITE,
    );
    assert.deepEqual(result.invalid, [400, { code: "INVALID_BODY" }]);
    assert.equal(result.big, 413);
  });

  test("a panic answers 500 without internals, readable in the page", async () => {
    const result = await inPage(async (site) => {
      const res = await fetch(`${site}/demo/panic`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      return [res.status, await res.text()];
    }, SITE);
    assert.equal(result[0], 500);
    assert.ok(!result[1].includes("hunter2"), result[1]);
    assert.match(JSON.parse(result[1]).message, SERVER_ERROR);
  });

  test("a route without CORS cannot be read from another origin", async () => {
    const outcome = await inPage(async (site) => {
      try {
        const res = await fetch(`${site}/demo/private`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        return `read ${res.status}`;
      } catch (e) {
        return `blocked: ${e.name}`;
      }
    }, SITE);
    assert.equal(outcome, "blocked: TypeError");
  });
});
