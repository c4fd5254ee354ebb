// The operator dashboard in headless Chromium (Debian's /usr/bin/chromium, CHROMIUM_PATH),
// driven by puppeteer-core, with the official `convex` clients watching from Node. 5 tests,
// run in this order (later ones use what earlier ones wrote):
//   1. the data browser: click through to a message, edit it in the page's form, and see the
//      new body both on the page and in a live ConvexClient subscription;
//   2. an edit that breaks the `messages` validator is refused with its message, and the
//      document stays as it was;
//   3. the function runner runs the internal `reminders:fire` and shows its result;
//   4. full-page screenshots of /_dashboard, /_dashboard/data and /_dashboard/data/messages are
//      real renders (decoded in the page: many colours, not one background), and the DOM shows
//      the tables with the counts the functions report;
//   5. off loopback (a deployment bound to 0.0.0.0): the dashboard shows only the sign-in form,
//      a wrong key is refused, the right one lands on a working dashboard, and its cookie is
//      HttpOnly and SameSite=Strict.
// Run by crates/cli/tests/it/dashboard_browser.rs with CONVEX_URL + ADMIN_KEY (a loopback
// deployment: the dashboard is open) and REMOTE_URL + REMOTE_ADMIN_KEY (bound to 0.0.0.0 and
// reached at http://127.0.0.1:PORT; off loopback the Host header is not checked, only the key).
// KEEP_SCREENSHOTS=1 keeps test 4's PNGs (their folder is printed as a diagnostic).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi as api } from "convex/server";

const API = process.env.CONVEX_URL;
const KEY = process.env.ADMIN_KEY;
const REMOTE = process.env.REMOTE_URL;
const REMOTE_KEY = process.env.REMOTE_ADMIN_KEY;
for (const [name, value] of Object.entries({ CONVEX_URL: API, ADMIN_KEY: KEY, REMOTE_URL: REMOTE, REMOTE_ADMIN_KEY: REMOTE_KEY })) {
  if (!value) throw new Error(`${name} must be set`);
}
const TIMEOUT = 15000;

let browser, live, http, shots;
// What test 1 made, for the tests after it.
const channel = `dash-${randomUUID().slice(0, 8)}`;
let docId, editedBody;

before(async () => {
  browser = await puppeteer.launch({
    browser: "chrome",
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  http = new ConvexHttpClient(API, { logger: false });
  live = new ConvexClient(API, { logger: false });
  shots = mkdtempSync(path.join(tmpdir(), "fx-dashboard-shots-"));
});

after(async () => {
  if (live) await live.close();
  if (browser) await browser.close();
  if (shots && !process.env.KEEP_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
});

// ------------------------------------------------------------------ helpers

// A fresh page in its own browser context (its own cookies).
async function newPage() {
  const page = await (await browser.createBrowserContext()).newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width: 1280, height: 800 });
  return page;
}

// The start of the page's visible text, for failure messages.
async function snippet(page, n = 1200) {
  try {
    const t = await page.evaluate(() => document.body?.innerText ?? "");
    return `[${page.url()}] ${t.replace(/\s+/g, " ").slice(0, n)}`;
  } catch (e) {
    return `[${page.url()}] (no text: ${e.message})`;
  }
}

async function goto(page, url) {
  const response = await page.goto(url, { waitUntil: "load" });
  assert.ok(response, `no response for ${url}`);
  return response;
}

// Clicks the element matched by `selector` whose trimmed text is `text`, and waits for the
// navigation it starts; returns the final response (after redirects).
async function clickAndWait(page, selector, text) {
  const handles = await page.$$(selector);
  let target;
  for (const h of handles) {
    if ((await h.evaluate((e) => e.textContent.trim())) === text) {
      target = h;
      break;
    }
  }
  assert.ok(target, `no ${selector} with text ${JSON.stringify(text)} on the page: ${await snippet(page)}`);
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), target.click()]);
  return response;
}

// Replaces a textarea's or input's contents by typing, as a person would.
async function typeInto(page, selector, value) {
  await page.click(selector);
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyA");
  await page.keyboard.up("Control");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(value);
  const now = await page.$eval(selector, (e) => e.value);
  assert.equal(now, value, `typing into ${selector}`);
}

// The latest result of the live subscription, and a way to wait for one that passes `pred`.
let latest, liveError;
const waiters = new Set();
function onLive(value) {
  latest = value;
  for (const w of waiters) w();
}
function onLiveError(e) {
  liveError = e;
  for (const w of waiters) w();
}
function seenLive(pred, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (liveError) {
        clearTimeout(timer);
        waiters.delete(check);
        reject(new Error(`the subscription failed while waiting for ${what}: ${liveError.message ?? liveError}`));
      } else if (latest !== undefined && pred(latest)) {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(latest);
      }
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`the subscription did not show ${what} within ${ms} ms; last: ${JSON.stringify(latest)}`));
    }, ms);
    waiters.add(check);
    check();
  });
}

// The rows of the data page's table: { name: count }.
function tableCounts(page) {
  return page.$$eval("table tr", (rows) =>
    Object.fromEntries(
      rows
        .map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim()))
        .filter((cells) => cells.length === 2)
        .map(([name, count]) => [name, count]),
    ),
  );
}

// JSON for failure messages (int64 results arrive as BigInt).
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));

const docPage = () => `${API}/_dashboard/data/messages/${docId}`;

// ------------------------------------------------------------------ tests

test("data browser: an edit through the page's form is a commit that a live client sees", { timeout: 60000 }, async () => {
  live.onUpdate(api.messages.list, { channel }, onLive, onLiveError);
  await seenLive((msgs) => Array.isArray(msgs) && msgs.length === 0, "the empty channel");
  const original = `original ${randomUUID()}`;
  docId = await http.mutation(api.messages.send, { channel, author: "dash", body: original });
  assert.equal(typeof docId, "string");
  await seenLive((msgs) => msgs.some((m) => m._id === docId && m.body === original), "the sent message");

  const page = await newPage();
  try {
    let response = await goto(page, `${API}/_dashboard/data`);
    assert.equal(response.status(), 200, await snippet(page));
    response = await clickAndWait(page, "a", "messages");
    assert.equal(response.status(), 200, await snippet(page));
    assert.equal(new URL(page.url()).pathname, "/_dashboard/data/messages");
    // The id links to the document's page (newest first, so ours is on the first page).
    response = await clickAndWait(page, "table a", docId);
    assert.equal(response.status(), 200, await snippet(page));
    assert.equal(page.url(), docPage());
    const shown = JSON.parse(await page.$eval("#doc", (e) => e.textContent));
    assert.equal(shown._id, docId);
    assert.equal(shown.body, original, await snippet(page));

    // The form holds the fields as Convex JSON; change the body and save.
    const textarea = 'form[action$="/edit"] textarea[name="fields"]';
    const fields = JSON.parse(await page.$eval(textarea, (e) => e.value));
    assert.deepEqual(fields, { channel, author: "dash", body: original }, "the edit form's fields");
    editedBody = `edited in Chromium ${randomUUID()}`;
    await typeInto(page, textarea, JSON.stringify({ ...fields, body: editedBody }));
    response = await clickAndWait(page, 'form[action$="/edit"] button[type="submit"]', "Save");
    assert.equal(response.status(), 200, await snippet(page));
    assert.equal(page.url(), docPage(), "the edit redirects back to the document");
    const after = JSON.parse(await page.$eval("#doc", (e) => e.textContent));
    assert.equal(after.body, editedBody, await snippet(page));
    assert.equal(after._id, docId);
    assert.ok((await page.evaluate(() => document.body.innerText)).includes(editedBody));

    const msgs = await seenLive((m) => m.some((d) => d._id === docId && d.body === editedBody), "the edited body");
    assert.equal(msgs.length, 1, JSON.stringify(msgs));
    assert.equal(msgs[0].author, "dash");
  } finally {
    await page.browserContext().close();
  }
});

test("data browser: an edit that breaks the validator is refused with its message and changes nothing", { timeout: 60000 }, async () => {
  assert.ok(docId && editedBody, "test 1 made the document");
  const page = await newPage();
  try {
    const textarea = 'form[action$="/edit"] textarea[name="fields"]';
    // A number for `body`, then a missing `author`: both break the table's validator.
    for (const [what, fields] of [
      ["a number body", { channel, author: "dash", body: 42 }],
      ["no author", { channel, body: "no author here" }],
    ]) {
      let response = await goto(page, docPage());
      assert.equal(response.status(), 200, await snippet(page));
      await typeInto(page, textarea, JSON.stringify(fields));
      response = await clickAndWait(page, 'form[action$="/edit"] button[type="submit"]', "Save");
      assert.equal(response.status(), 400, `${what}: ${await snippet(page)}`);
      const alert = await page.$eval('[role="alert"]', (e) => e.textContent).catch(() => null);
      assert.ok(alert, `${what}: no alert on the page: ${await snippet(page)}`);
      assert.match(alert, /does not match the schema/, `${what}: ${alert}`);
      assert.match(alert, /messages/, `${what}: the message names the table: ${alert}`);
    }
    // Nothing changed: over HTTP, on the live subscription, and on the document's page.
    const now = await http.query(api.messages.list, { channel });
    assert.equal(now.length, 1, JSON.stringify(now));
    assert.equal(now[0]._id, docId);
    assert.equal(now[0].body, editedBody);
    assert.equal(now[0].author, "dash");
    assert.ok(latest.length === 1 && latest[0].body === editedBody, JSON.stringify(latest));
    await goto(page, docPage());
    const shown = JSON.parse(await page.$eval("#doc", (e) => e.textContent));
    assert.equal(shown.body, editedBody, await snippet(page));
  } finally {
    await page.browserContext().close();
  }
});

test("function runner: the internal reminders:fire runs from the page and shows its result", { timeout: 60000 }, async () => {
  const text = `fired from the runner ${randomUUID().slice(0, 8)}`;
  const page = await newPage();
  try {
    let response = await goto(page, `${API}/_dashboard/run`);
    assert.equal(response.status(), 200, await snippet(page));
    const label = await page.$eval('#path option[value="reminders:fire"]', (o) => o.textContent).catch(() => null);
    assert.ok(label, `reminders:fire is not offered: ${await snippet(page)}`);
    assert.match(label, /internal/, label);
    const chosen = await page.select("#path", "reminders:fire");
    assert.deepEqual(chosen, ["reminders:fire"]);
    await typeInto(page, "#args", JSON.stringify({ text }));
    response = await clickAndWait(page, 'form[action="/_dashboard/run"] button[type="submit"]', "Run");
    assert.equal(response.status(), 200, await snippet(page));
    const headings = await page.$$eval("h2", (hs) => hs.map((h) => h.textContent.trim()));
    assert.ok(headings.includes("Result") && !headings.includes("Failed") && !headings.includes("Refused"), `${headings}: ${await snippet(page)}`);
    assert.equal(await page.$eval("#result", (e) => e.getAttribute("role")), null, "the result is not an alert");
    // The form keeps what was run.
    assert.equal(await page.$eval("#path", (e) => e.value), "reminders:fire");
    assert.equal(JSON.parse(await page.$eval("#args", (e) => e.value)).text, text);
    // It really ran: the reminder is there, once.
    const admin = new ConvexHttpClient(API, { logger: false });
    admin.setAdminAuth(KEY);
    const fired = await admin.query(api.reminders.list, {});
    assert.equal(fired.filter((r) => r.text === text).length, 1, show(fired));
    // The page ran it as the admin; clients without the key still cannot call it.
    await assert.rejects(http.mutation(api.reminders.fire, { text: "nope" }), /Could not find public function/);
  } finally {
    await page.browserContext().close();
  }
});

// Decodes a PNG in the page (createImageBitmap, drawn on a canvas) and tells its size, how
// many distinct colours it has (sampled on a 2-pixel grid) and the share of sampled pixels
// unlike the commonest one (the background). The page should be the foreground one.
async function inspectPng(page, file) {
  const png = readFileSync(file);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is a PNG`);
  const work = page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const counts = new Map();
    let samples = 0;
    for (let y = 0; y < canvas.height; y += 2) {
      for (let x = 0; x < canvas.width; x += 2) {
        const i = (y * canvas.width + x) * 4;
        const c = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        counts.set(c, (counts.get(c) ?? 0) + 1);
        samples++;
      }
    }
    let commonest = 0;
    for (const n of counts.values()) commonest = Math.max(commonest, n);
    return { width: canvas.width, height: canvas.height, colours: counts.size, inked: (samples - commonest) / samples };
  }, png.toString("base64"));
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`decoding ${file} in the page took over ${TIMEOUT} ms`)), TIMEOUT);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

test("screenshots of the dashboard pages are real renders, and the DOM shows tables and counts", { timeout: 90000 }, async (t) => {
  // One page (a background tab may never paint, so no second one): screenshots first, then
  // the same page, on about:blank, decodes them.
  const page = await newPage();
  try {
    await page.bringToFront();
    const reports = await http.query(api.reports.get, {});
    const reminders = await http.query(api.reminders.list, {});
    const pages = [
      ["dashboard", `${API}/_dashboard`],
      ["data", `${API}/_dashboard/data`],
      ["messages", `${API}/_dashboard/data/messages`],
    ];
    const stats = {};
    for (const [name, url] of pages) {
      const response = await goto(page, url);
      assert.equal(response.status(), 200, await snippet(page));
      if (name === "dashboard") {
        // The function log lists what the earlier tests ran, with the counters above it.
        const log = await page.$eval("#live", (e) => e.textContent);
        for (const want of ["executions", "commits", "open sockets", "messages:send", "reminders:fire"]) {
          assert.ok(log.includes(want), `the dashboard lacks ${want}: ${log.slice(0, 1500)}`);
        }
        // The runner's call is logged as the admin's.
        const rows = await page.$$eval("#live tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
        assert.ok(
          rows.some((r) => r.includes("reminders:fire") && r.includes("HTTP API, admin") && r.includes("success")),
          `no successful admin reminders:fire in the log: ${JSON.stringify(rows.slice(0, 20))}`,
        );
      }
      if (name === "data") {
        const counts = await tableCounts(page);
        for (const t of ["counters", "messages", "posts", "reminders", "teams"]) {
          assert.ok(t in counts, `the data page lacks table ${t}: ${JSON.stringify(counts)}`);
        }
        assert.equal(Number(counts.messages), Number(reports.messages), `messages count: ${show(counts)} vs reports:get ${show(reports)}`);
        assert.equal(Number(counts.posts), Number(reports.posts), `posts count: ${JSON.stringify(counts)}`);
        assert.equal(Number(counts.teams), Number(reports.teams), `teams count: ${JSON.stringify(counts)}`);
        assert.equal(Number(counts.reminders), reminders.length, `reminders count: ${JSON.stringify(counts)}`);
        assert.ok(Number(counts.messages) >= 1 && Number(counts.reminders) >= 1, JSON.stringify(counts));
        const hidden = Object.keys(counts).filter((t) => t.startsWith("_"));
        assert.deepEqual(hidden, [], "system tables are never shown");
      }
      if (name === "messages") {
        const row = await page.$$eval("table tr", (rows, id) => rows.map((r) => r.innerText).find((t) => t.includes(id)) ?? null, docId);
        assert.ok(row && row.includes(editedBody), `the table page lacks our document: ${await snippet(page)}`);
        assert.equal(await page.$eval("h1", (e) => e.textContent), "messages");
      }
      await page.screenshot({ path: path.join(shots, `${name}.png`), type: "png", fullPage: true });
    }
    await page.goto("about:blank");
    for (const [name] of pages) {
      const s = await inspectPng(page, path.join(shots, `${name}.png`));
      stats[name] = s;
      assert.ok(s.width >= 1200 && s.height >= 700, `${name}: a full-page shot, got ${s.width}x${s.height}`);
      assert.ok(s.colours >= 16, `${name}: a blank-looking screenshot (${s.colours} colours): ${JSON.stringify(s)}`);
      assert.ok(s.inked >= 0.005, `${name}: almost nothing drawn (${(s.inked * 100).toFixed(2)}% of pixels): ${JSON.stringify(s)}`);
    }
    // Three different pages make three different pictures.
    const distinct = new Set(pages.map(([name]) => readFileSync(path.join(shots, `${name}.png`)).toString("base64")));
    assert.equal(distinct.size, 3, `identical screenshots: ${JSON.stringify(stats)}`);
    writeFileSync(path.join(shots, "stats.json"), JSON.stringify(stats, null, 2));
    t.diagnostic(`screenshots ${JSON.stringify(stats)}${process.env.KEEP_SCREENSHOTS ? ` kept in ${shots}` : ""}`);
  } finally {
    await page.browserContext().close();
  }
});

test("off loopback: sign-in form first, a wrong key refused, the right key signs in with a strict HttpOnly cookie", { timeout: 60000 }, async () => {
  // A message on the remote deployment, so its data page has something to count.
  const remote = new ConvexHttpClient(REMOTE, { logger: false });
  const body = `remote ${randomUUID().slice(0, 8)}`;
  await remote.mutation(api.messages.send, { channel, author: "remote", body });

  const page = await newPage();
  try {
    // Without the key: the sign-in form, and no data.
    for (const p of ["/_dashboard", "/_dashboard/data", "/_dashboard/data/messages"]) {
      const response = await goto(page, `${REMOTE}${p}`);
      assert.equal(response.status(), 200, await snippet(page));
      assert.equal(new URL(page.url()).pathname, "/_dashboard/login", `${p} went to ${page.url()}`);
      assert.ok(await page.$('form[action="/_dashboard/login"] input[name="key"][type="password"]'), `${p}: no sign-in form: ${await snippet(page)}`);
      const shown = await page.evaluate(() => document.body.innerText);
      assert.ok(!shown.includes(body) && !/\bmessages\b/.test(shown) && !shown.includes("function log"), `${p} shows data before sign-in: ${shown}`);
    }
    assert.deepEqual((await page.cookies()).filter((c) => c.name === "ferrovex_admin"), []);

    // A wrong key: refused, no cookie.
    await typeInto(page, "#key", `${REMOTE_KEY}x`);
    let response = await clickAndWait(page, 'form[action="/_dashboard/login"] button[type="submit"]', "Sign in");
    assert.equal(response.status(), 401, await snippet(page));
    const alert = await page.$eval('[role="alert"]', (e) => e.textContent).catch(() => null);
    assert.match(alert ?? "", /not this deployment's admin key/, await snippet(page));
    assert.deepEqual((await page.cookies(`${REMOTE}/_dashboard`)).filter((c) => c.name === "ferrovex_admin"), []);
    response = await goto(page, `${REMOTE}/_dashboard/data`);
    assert.equal(new URL(page.url()).pathname, "/_dashboard/login", "still signed out");

    // The right key: the dashboard.
    await typeInto(page, "#key", REMOTE_KEY);
    response = await clickAndWait(page, 'form[action="/_dashboard/login"] button[type="submit"]', "Sign in");
    assert.equal(response.status(), 200, await snippet(page));
    assert.equal(new URL(page.url()).pathname, "/_dashboard", await snippet(page));
    assert.ok((await page.$eval("header", (e) => e.innerText)).includes("function log"), await snippet(page));
    assert.ok(await page.$("#live table"), `no function log: ${await snippet(page)}`);

    const cookies = (await page.cookies(`${REMOTE}/_dashboard`)).filter((c) => c.name === "ferrovex_admin");
    assert.equal(cookies.length, 1, JSON.stringify(await page.cookies()));
    const [cookie] = cookies;
    assert.equal(cookie.httpOnly, true, JSON.stringify(cookie));
    assert.equal(cookie.sameSite, "Strict", JSON.stringify(cookie));
    assert.equal(cookie.path, "/_dashboard", JSON.stringify(cookie));
    assert.ok(!cookie.value.includes(REMOTE_KEY) && !REMOTE_KEY.includes(cookie.value), "the cookie is not the key");
    assert.ok(!(await page.evaluate(() => document.cookie)).includes("ferrovex_admin"), "scripts cannot read the cookie");

    // Signed in, the data page works and lists messages with our document counted.
    response = await clickAndWait(page, "header a", "data");
    assert.equal(response.status(), 200, await snippet(page));
    assert.equal(new URL(page.url()).pathname, "/_dashboard/data");
    const counts = await tableCounts(page);
    assert.ok("messages" in counts, `no messages table: ${JSON.stringify(counts)}: ${await snippet(page)}`);
    assert.ok(Number(counts.messages) >= 1, JSON.stringify(counts));
    response = await clickAndWait(page, "a", "messages");
    assert.equal(response.status(), 200, await snippet(page));
    assert.ok((await page.evaluate(() => document.body.innerText)).includes(body), await snippet(page));

    // Another context (no cookie) is still sent to the sign-in form.
    const other = await newPage();
    try {
      await goto(other, `${REMOTE}/_dashboard/data`);
      assert.equal(new URL(other.url()).pathname, "/_dashboard/login", await snippet(other));
    } finally {
      await other.browserContext().close();
    }
  } finally {
    await page.browserContext().close();
  }
});
