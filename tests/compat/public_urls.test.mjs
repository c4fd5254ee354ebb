// The demo opened as a newcomer would: at http://localhost:<port> (not 127.0.0.1), on a
// deployment bound to 0.0.0.0 with public URLs. Headless Chromium signs up and in through the
// pages' own forms; the page, the tokens and the discovery document name the public URLs.
// Run by crates/cli/tests/it/public_urls.rs with WEB_URL, API_URL and SITE_URL (the public
// URLs, spelled with `localhost`).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import puppeteer from "puppeteer-core";

const { WEB_URL, API_URL, SITE_URL } = process.env;
if (!WEB_URL || !API_URL || !SITE_URL) throw new Error("WEB_URL, API_URL and SITE_URL must be set");

let browser;
let page;
before(async () => {
  browser = await puppeteer.launch({
    headless: true,
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage();
});
after(async () => browser?.close());

const until = (fn, arg, ms = 15_000) => page.waitForFunction(fn, { timeout: ms }, arg);

async function fillAndSubmit(fields) {
  for (const [selector, value] of Object.entries(fields)) {
    await page.waitForSelector(selector);
    await page.$eval(selector, (el) => (el.value = ""));
    await page.type(selector, value);
  }
  await page.click("#auth button");
}

const email = `newcomer-${randomUUID().slice(0, 8)}@example.com`;
const password = "newcomer password 1";

test("the page names the public API URL", async () => {
  const html = await (await fetch(`${WEB_URL}/`)).text();
  assert.ok(html.includes(`"apiUrl":"${API_URL}"`), "the payload's apiUrl is the public one");
  assert.ok(!html.includes("0.0.0.0"), "no 0.0.0.0 address in the page");
});

test("Chromium signs up and signs in on the demo at localhost", async () => {
  await page.goto(`${WEB_URL}/sign-up`);
  assert.equal(new URL(page.url()).hostname, "localhost");
  await fillAndSubmit({ "#name": "Newcomer", "#email": email, "#password": password });
  await until((u) => location.href === u && document.readyState === "complete", `${WEB_URL}/`);
  await until((n) => document.getElementById("sidebar-user").textContent === n, "Newcomer");
  // Signed in live over the public API URL too.
  const state = await page.evaluate(() => new Promise((resolve) => {
    Ferrovex.onConnectionChange((s) => { if (s.connected) resolve(s); });
  }));
  assert.ok(state.connected);
  await page.evaluate(() => Ferrovex.signOut());
  await until(() => document.getElementById("sidebar-user").textContent !== "Newcomer");
  await page.goto(`${WEB_URL}/sign-in`);
  await fillAndSubmit({ "#email": email, "#password": password });
  await until((u) => location.href === u && document.readyState === "complete", `${WEB_URL}/`);
  await until((n) => document.getElementById("sidebar-user").textContent === n, "Newcomer");
});

test("tokens and the discovery document name the public site URL", async () => {
  const token = await page.evaluate(async () => {
    const r = await fetch("/api/auth/convex/token", { credentials: "include" });
    return (await r.json()).token;
  });
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
  assert.equal(claims.iss, SITE_URL);
  const discovery = await (await fetch(`${SITE_URL}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, SITE_URL);
  assert.ok(discovery.jwks_uri.startsWith(SITE_URL), discovery.jwks_uri);
});
