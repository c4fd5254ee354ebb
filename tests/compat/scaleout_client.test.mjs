// Several `ferrovex serve` instances on one PostgreSQL database (FERROVEX_TEST_DATABASE_URL,
// a throwaway cluster the Rust test started), driven with the official npm `convex` clients:
// - precision: subscribers on 50 channels spread over three instances; each write re-runs
//   exactly one query per instance holding a subscription on its channel, counted from
//   /metrics, and every subscriber sees it;
// - serializability: 8 clients over three instances increment one counter 250 times each;
// - exactly once: a client's in-flight mutations, re-sent through a forwarding proxy to
//   another instance after its own is killed with SIGKILL, each count once.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { ConvexClient, ConvexHttpClient } from "convex/browser";

const BIN = process.env.FERROVEX_BIN;
const DB = process.env.FERROVEX_TEST_DATABASE_URL;
if (!BIN || !DB) throw new Error("FERROVEX_BIN and FERROVEX_TEST_DATABASE_URL must be set");

const instances = [];
const cleanups = [];

async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts one instance on the shared database; resolves once it printed its URLs. */
async function startInstance() {
  const dir = mkdtempSync(path.join(tmpdir(), "fx-scale-"));
  const child = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir, "--database-url", DB, "--print-log", "false"], {
    env: { ...process.env, FERROVEX_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const urls = {};
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  await waitFor(() => urls.web || child.exitCode !== null, "an instance to start");
  assert.equal(child.exitCode, null, "the instance exited");
  const instance = { url: urls.api, child, dir };
  cleanups.push(() => {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  return instance;
}

/** A counter of an instance's /metrics (summing labelled series). */
async function metric(url, name, label = "") {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}${label} `) || (label === "" && line.startsWith(`${name}{`))) {
      sum += Number(line.split(" ").pop());
    }
  }
  return sum;
}

/** Fresh query executions (not served from the cache) of an instance so far. */
async function freshQueries(url) {
  const all = await metric(url, "ferrovex_executions_total", '{kind="query"}');
  const hits = await metric(url, "ferrovex_cache_hits_total");
  return all - hits;
}

before(async () => {
  for (let i = 0; i < 3; i++) instances.push(await startInstance());
});

after(async () => {
  for (const c of cleanups.reverse()) c();
});

describe("three instances on one PostgreSQL", () => {
  test("a write re-runs exactly the subscriptions on its channel, on every instance, and nothing else", async () => {
    const CHANNELS = 50;
    const channel = (c) => `scale-${c}`;
    // Channel c is watched on (c % 3) + 1 instances, starting at instance c % 3.
    const watchers = (c) => Array.from({ length: (c % 3) + 1 }, (_, k) => (c + k) % 3);
    const clients = instances.map((inst) => new ConvexClient(inst.url));
    cleanups.push(() => clients.forEach((c) => c.close()));
    const latest = new Map(); // "i/c" -> bodies
    for (let c = 0; c < CHANNELS; c++) {
      for (const i of watchers(c)) {
        clients[i].onUpdate("messages:list", { channel: channel(c) }, (msgs) => latest.set(`${i}/${c}`, msgs.map((m) => m.body)));
      }
    }
    const total = Array.from({ length: CHANNELS }, (_, c) => watchers(c).length).reduce((a, b) => a + b, 0);
    await waitFor(() => latest.size === total, "every subscription's first result");
    const http = instances.map((inst) => new ConvexHttpClient(inst.url));
    for (let c = 0; c < CHANNELS; c++) {
      // Let every instance's poll settle, then count from here.
      await new Promise((r) => setTimeout(r, 120));
      const before = await Promise.all(instances.map((inst) => freshQueries(inst.url)));
      const body = `write-${c}`;
      // Writes land on every instance in turn.
      await http[c % 3].mutation("messages:send", { channel: channel(c), author: "scale", body });
      for (const i of watchers(c)) {
        await waitFor(() => latest.get(`${i}/${c}`)?.includes(body), `instance ${i} to see ${body}`);
      }
      await new Promise((r) => setTimeout(r, 150));
      const afterCounts = await Promise.all(instances.map((inst) => freshQueries(inst.url)));
      const reruns = afterCounts.reduce((sum, n, i) => sum + n - before[i], 0);
      assert.equal(reruns, watchers(c).length, `write to channel ${c}: executions per instance ${afterCounts.map((n, i) => n - before[i])}`);
    }
  });

  test("8 clients over three instances increment one counter 250 times each: exactly 2000", async () => {
    const name = `ser-${Math.random().toString(36).slice(2)}`;
    const clients = Array.from({ length: 8 }, (_, k) => new ConvexClient(instances[k % 3].url));
    cleanups.push(() => clients.forEach((c) => c.close()));
    await Promise.all(
      clients.map(async (client) => {
        for (let n = 0; n < 250; n++) await client.mutation("counter:increment", { name });
      }),
    );
    const value = await new ConvexHttpClient(instances[1].url).query("counter:get", { name });
    assert.equal(value.value, 2000n);
  });

  test("in-flight mutations re-sent to another instance after a SIGKILL count exactly once", async () => {
    const victim = await startInstance();
    const portOf = (url) => Number(new URL(url).port);
    let target = portOf(victim.url);
    const sockets = new Set();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(target, "127.0.0.1");
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
    cleanups.push(() => proxy.close());
    const client = new ConvexClient(`http://127.0.0.1:${proxy.address().port}`);
    cleanups.push(() => client.close());
    const name = `once-${Math.random().toString(36).slice(2)}`;
    const N = 60;
    let acked = 0;
    const all = Array.from({ length: N }, () => client.mutation("counter:increment", { name }).then(() => acked++));
    await waitFor(() => acked >= 10, "the first acknowledgements");
    // The instance dies mid-stream; the load balancer sends the client elsewhere.
    victim.child.kill("SIGKILL");
    target = portOf(instances[0].url);
    for (const s of sockets) s.destroy();
    await Promise.all(all);
    assert.ok(acked === N);
    const value = await new ConvexHttpClient(instances[2].url).query("counter:get", { name });
    assert.equal(value.value, BigInt(N), "each mutation applied exactly once");
  });
});
