// Full-text search with the official clients (3 tests): `posts:search` ranks by relevance with
// prefix matching on the last word; a subscribed search updates live when a matching post is
// added; and adding a post with none of its terms re-runs no search subscription, counted from
// /metrics (`ferrovex_subscription_reruns_total`). Starts its own deployment with FERROVEX_BIN.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { ConvexClient, ConvexHttpClient } from "convex/browser";

const BIN = process.env.FERROVEX_BIN;
if (!BIN) throw new Error("FERROVEX_BIN must point at the ferrovex binary");
const TIMEOUT = 15000;
let proc, dir, writer;
const urls = {};

async function waitFor(fn, what, ms = TIMEOUT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "fx-search-"));
  proc = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir, "--print-log", "false"], {
    env: { ...process.env, FERROVEX_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  await waitFor(() => urls.web, "the server to print its URLs");
  // posts:create needs a signed-in user.
  const email = `search-${randomUUID().slice(0, 8)}@example.com`;
  const signUp = await fetch(`${urls.site}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: urls.site },
    body: JSON.stringify({ name: "Searcher", email, password: "correct horse battery" }),
  });
  assert.equal(signUp.status, 200, await signUp.clone().text());
  const cookie = signUp.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const token = await (await fetch(`${urls.site}/api/auth/convex/token`, { headers: { cookie } })).json();
  writer = new ConvexHttpClient(urls.api);
  writer.setAuth(token.token);
});

after(async () => {
  proc.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200));
  proc.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const post = (title, body) => writer.mutation("posts:create", { title, body });

async function reruns() {
  const text = await (await fetch(`${urls.api}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("ferrovex_subscription_reruns_total"));
  assert.ok(line, "the metric exists");
  return Number(line.split(/\s+/).at(-1));
}

test("results come most relevant first, the last word matching as a prefix", async () => {
  const w = `k${randomUUID().slice(0, 6)}`;
  await post(`${w} once`, "short");
  await post(`${w} ${w}`, `${w} three times`);
  await post("unrelated", "nothing to see");
  await post("prefix", `${w}ing is a longer word, in a longer text with many other words around it`);
  const reader = new ConvexHttpClient(urls.api);
  const titles = (await reader.query("posts:search", { q: w })).map((p) => p.title);
  // More occurrences first; then a short text before a long one with the same one match.
  assert.deepEqual(titles, [`${w} ${w}`, `${w} once`, "prefix"]);
  // Earlier words must match whole: "${w}in" + another word finds no "${w}ing" post by the first.
  const whole = (await reader.query("posts:search", { q: `${w}in nothing` })).map((p) => p.title);
  assert.deepEqual(whole, ["unrelated"]);
  await assert.rejects(reader.query("posts:search", { q: "   " }), /INVALID_QUERY|ConvexError|Server Error|invalid/i);
});

test("a subscribed search updates live when a matching post is added", async () => {
  const w = `live${randomUUID().slice(0, 6)}`;
  const client = new ConvexClient(urls.api);
  const seen = [];
  const unsubscribe = client.onUpdate("posts:search", { q: w }, (posts) => seen.push(posts.map((p) => p.title)));
  try {
    await waitFor(() => seen.length > 0, "the first result");
    assert.deepEqual(seen.at(-1), []);
    await post(`About ${w}`, "created while subscribed");
    await waitFor(() => seen.at(-1).includes(`About ${w}`), "the new post to show");
  } finally {
    unsubscribe();
    await client.close();
  }
});

test("a post with none of a search's terms re-runs no search subscription", async () => {
  const w = `quiet${randomUUID().slice(0, 6)}`;
  const client = new ConvexClient(urls.api);
  const seen = [];
  const unsubscribe = client.onUpdate("posts:search", { q: w }, (posts) => seen.push(posts.length));
  try {
    await waitFor(() => seen.length > 0, "the first result");
    const start = await reruns();
    for (let i = 0; i < 5; i++) await post(`other ${i}`, "words that share nothing with the search");
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await reruns(), start, "no search subscription re-ran");
    assert.equal(seen.length, 1);
    await post(`Now ${w}`, "this one matches");
    await waitFor(() => seen.at(-1) === 1, "the matching post to show");
    assert.ok((await reruns()) > start, "the matching post re-ran it");
  } finally {
    unsubscribe();
    await client.close();
  }
});
