// File storage with the official clients (7 tests): the upload flow from Node (`fetch` to the
// URL a mutation returned) and from headless Chromium through the demo's Files page; bytes
// round-trip exactly (SHA-256); a Range request gets 206 and the right slice; a used and an
// expired upload URL get 4xx; an oversized upload gets 413 and stores nothing; a subscribed
// client sees files come and go live. Starts its own deployments with FERROVEX_BIN.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import puppeteer from "puppeteer-core";

const BIN = process.env.FERROVEX_BIN;
if (!BIN) throw new Error("FERROVEX_BIN must point at the ferrovex binary");
const TIMEOUT = 15000;
const MAX_FILE = 200000;
const servers = [];

async function waitFor(fn, what, ms = TIMEOUT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A demo deployment on free ports with `extra` flags: `{urls, dir}`. */
async function start(extra = []) {
  const dir = mkdtempSync(path.join(tmpdir(), "fx-files-"));
  const urls = {};
  const proc = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir, ...extra], {
    env: { ...process.env, FERROVEX_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  servers.push({ proc, dir });
  await waitFor(() => urls.web, "the server to print its URLs");
  return { urls, dir };
}

let main, strict;
before(async () => {
  main = await start();
  strict = await start(["--max-file-bytes", String(MAX_FILE), "--upload-url-ttl-secs", "1"]);
});

after(async () => {
  for (const { proc, dir } of servers) {
    proc.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("base64");
const blobs = (dir) => readdirSync(path.join(dir, "storage")).filter((d) => d.length === 2).flatMap((d) => readdirSync(path.join(dir, "storage", d)));

/** Uploads `bytes` through the Convex flow; returns `{storageId, id}`. */
async function upload(client, bytes, type, name) {
  const url = await client.mutation("files:generateUploadUrl", {});
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": type }, body: bytes });
  assert.equal(res.status, 200, await res.clone().text());
  const { storageId } = await res.json();
  const id = await client.mutation("files:save", { storageId, name });
  return { storageId, id, url };
}

test("a file uploaded from Node round-trips byte for byte with its metadata", async () => {
  const client = new ConvexHttpClient(main.urls.api);
  const bytes = randomBytes(150000);
  const { storageId, id } = await upload(client, bytes, "application/x-test", "random.bin");
  const files = await client.query("files:list", {});
  const row = files.find((f) => f._id === id);
  assert.ok(row, JSON.stringify(files));
  assert.equal(row.storageId, storageId);
  assert.equal(row.size, bytes.length);
  assert.equal(row.contentType, "application/x-test");
  assert.equal(row.sha256, sha256(bytes));
  const res = await fetch(row.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/x-test");
  assert.equal(res.headers.get("content-length"), String(bytes.length));
  assert.ok(res.headers.get("etag"));
  assert.ok(res.headers.get("cache-control"));
  const back = Buffer.from(await res.arrayBuffer());
  assert.equal(sha256(back), sha256(bytes));
  // The same ETag answers 304.
  const again = await fetch(row.url, { headers: { "If-None-Match": res.headers.get("etag") } });
  assert.equal(again.status, 304);
});

test("a Range request gets 206 with exactly that slice, and an impossible one 416", async () => {
  const client = new ConvexHttpClient(main.urls.api);
  const bytes = randomBytes(5000);
  const { id } = await upload(client, bytes, "application/octet-stream", "range.bin");
  const row = (await client.query("files:list", {})).find((f) => f._id === id);
  const part = await fetch(row.url, { headers: { Range: "bytes=1000-1999" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), "bytes 1000-1999/5000");
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(1000, 2000));
  const tail = await fetch(row.url, { headers: { Range: "bytes=-10" } });
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(4990));
  const bad = await fetch(row.url, { headers: { Range: "bytes=9000-" } });
  assert.equal(bad.status, 416);
  assert.equal((await fetch(`${main.urls.api}/api/storage/01m94vv358kvwbfgj67rqa2t82`)).status, 404);
});

test("an upload URL works once: reusing it gets a 4xx that says so", async () => {
  const client = new ConvexHttpClient(main.urls.api);
  const { url } = await upload(client, Buffer.from("once"), "text/plain", "once.txt");
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "twice" });
  assert.ok(res.status >= 400 && res.status < 500, String(res.status));
  assert.match((await res.json()).message, /used already/);
});

test("an expired upload URL gets a 4xx that says so, and stores nothing", async () => {
  const client = new ConvexHttpClient(strict.urls.api);
  const url = await client.mutation("files:generateUploadUrl", {});
  await new Promise((r) => setTimeout(r, 1500));
  const before = blobs(strict.dir).length;
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "late" });
  assert.ok(res.status >= 400 && res.status < 500, String(res.status));
  assert.match((await res.json()).message, /expired/);
  assert.equal(blobs(strict.dir).length, before);
});

test("an oversized upload gets 413 and nothing is stored", async () => {
  const client = new ConvexHttpClient(strict.urls.api);
  const before = blobs(strict.dir).length;
  // Declared too large: refused before reading.
  let url = await client.mutation("files:generateUploadUrl", {});
  let res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: randomBytes(MAX_FILE + 1) });
  assert.equal(res.status, 413);
  assert.match((await res.json()).message, /at most 200000 bytes/);
  // Streamed without a length: cut off once it passes the limit.
  url = await client.mutation("files:generateUploadUrl", {});
  const chunks = [randomBytes(120000), randomBytes(120000)];
  const stream = new ReadableStream({ pull(c) { const next = chunks.shift(); next ? c.enqueue(next) : c.close(); } });
  res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: stream, duplex: "half" });
  assert.equal(res.status, 413);
  assert.equal(blobs(strict.dir).length, before);
  assert.equal(readdirSync(path.join(strict.dir, "storage", "tmp")).length, 0, "no partial file is left");
});

test("a subscribed client sees a file appear and go", async () => {
  const http = new ConvexHttpClient(main.urls.api);
  const live = new ConvexClient(main.urls.api);
  const seen = [];
  const unsubscribe = live.onUpdate("files:list", {}, (files) => seen.push(files.map((f) => f.name)));
  try {
    await waitFor(() => seen.length > 0, "the first result");
    const { id } = await upload(http, Buffer.from("live"), "text/plain", "live.txt");
    await waitFor(() => seen.at(-1).includes("live.txt"), "the new file to show");
    await http.mutation("files:remove", { id });
    await waitFor(() => !seen.at(-1).includes("live.txt"), "the removed file to go");
  } finally {
    unsubscribe();
    await live.close();
  }
});

test("the demo's Files page uploads with a progress bar and lists the file live with a preview and a download link", async () => {
  const browser = await puppeteer.launch({
    browser: "chrome",
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const dir = mkdtempSync(path.join(tmpdir(), "fx-files-upload-"));
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${main.urls.web}/files`);
    assert.ok(await page.$("#drop"), "a drop zone");
    // A real 2x2 PNG.
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==", "base64");
    const file = path.join(dir, "pixel.png");
    writeFileSync(file, png);
    // Record the progress bar's values while the upload runs.
    await page.evaluate(() => {
      window.progressSeen = [];
      new MutationObserver(() => window.progressSeen.push(document.getElementById("progress").value)).observe(document.getElementById("progress"), { attributes: true });
    });
    const input = await page.$("#pick");
    await input.uploadFile(file);
    await page.waitForFunction(() => [...document.querySelectorAll("#files li a")].some((a) => a.textContent === "pixel.png"), { polling: 50 });
    assert.match(await page.$eval("#upload-status", (e) => e.textContent), /Uploaded pixel\.png/);
    const { href, loaded } = await page.evaluate(async () => {
      const li = [...document.querySelectorAll("#files li")].find((l) => l.querySelector("a").textContent === "pixel.png");
      const img = li.querySelector("img");
      await new Promise((r) => (img.complete ? r() : (img.onload = r)));
      return { href: li.querySelector("a").href, loaded: img.naturalWidth };
    });
    assert.equal(loaded, 2, "the preview is the image");
    const back = Buffer.from(await (await fetch(href)).arrayBuffer());
    assert.equal(sha256(back), sha256(png));
    assert.ok((await page.evaluate(() => window.progressSeen.length)) > 0, "the progress bar moved");
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
