// Compatibility tests: the official `convex` npm client (ConvexClient, i.e.
// the WebSocket sync protocol) talking to a Ferrovex server.
//
// This file starts its own servers (some tests restart them), so it needs
// the path of a Ferrovex binary:
//   FERROVEX_BIN=target/debug/ferrovex node --test tests/compat/sync_client.test.mjs
//
// Servers print one stdout line per function execution, e.g.
//   Q messages:list (WebSocket) success (cached) 0ms
// and several tests read those lines to check what the server executed.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";
// The WebSocket library the official client itself uses in Node (pinned by `convex`).
import WebSocket from "ws";

const FERROVEX_BIN = process.env.FERROVEX_BIN;
if (!FERROVEX_BIN) {
  // Fail the file loudly rather than skipping: without a binary nothing is tested.
  throw new Error(
    "FERROVEX_BIN is not set. Point it at a Ferrovex binary, e.g. " +
      "`FERROVEX_BIN=target/debug/ferrovex node --test tests/compat/sync_client.test.mjs`.",
  );
}

const api = anyApi;
const RUN_ID = randomUUID().slice(0, 8);

/** A channel or counter name unique to this run (and to `label`). */
function unique(label) {
  return `sync-${label}-${RUN_ID}-${randomUUID().slice(0, 4)}`;
}

/** Generous bound for anything that should happen "within a few seconds". */
const WAIT_MS = 10_000;
/** Bound for things that include a client reconnect (jittered backoff). */
const RECONNECT_WAIT_MS = 30_000;

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned), or
 * fails after `timeout` ms with a message naming `what` and, if given, the
 * current state from `describeState()`.
 */
async function waitFor(predicate, { what, timeout = WAIT_MS, describeState } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      const state = describeState ? `; state: ${describeState()}` : "";
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${state}`);
    }
    await delay(10);
  }
}

/** Resolves with `promise`'s outcome, or rejects if it takes over `timeout` ms. */
async function withTimeout(promise, timeout, what) {
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)),
      timeout,
    );
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Server processes

/** Every spawned server process, so that `after` can kill leftovers. */
const children = new Set();
/** Every temporary data directory, removed in `after`. */
const tempDirs = new Set();

async function newDataDir() {
  const dir = await mkdtemp(join(tmpdir(), "ferrovex-sync-compat-"));
  tempDirs.add(dir);
  return dir;
}

/** One running `ferrovex serve` process. */
class Server {
  constructor(proc, dir) {
    this.proc = proc;
    this.dir = dir;
    /** stdout lines, in order, as they arrive. */
    this.lines = [];
    this.stderr = "";
    this.url = undefined;
    this.port = undefined;
    this.exit = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        children.delete(proc);
        resolve({ code, signal });
      });
    });
    this.exited = false;
    this.exit.then(() => {
      this.exited = true;
    });
    createInterface({ input: proc.stdout }).on("line", (line) => this.lines.push(line));
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      this.stderr += chunk;
    });
  }

  /**
   * Starts a server on `dir`. With `port` 0 the server picks a free port;
   * otherwise that exact port is used (to restart on the same URL).
   */
  static async start(dir, port = 0) {
    // A just-killed server's port can very briefly stay busy; retry a bounded
    // number of times if the process exits before it starts listening.
    let lastError;
    for (let attempt = 0; attempt < 10; attempt++) {
      const proc = spawn(
        FERROVEX_BIN,
        ["serve", "--api-port", String(port), "--site-port", "0", "--web-port", "0", "--data-dir", dir],
        {
          env: { ...process.env, FERROVEX_LOG: "warn" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      children.add(proc);
      const server = new Server(proc, dir);
      try {
        await server.waitUntilListening();
        if (attempt > 0) {
          console.log(`# server on port ${port} needed ${attempt + 1} start attempts`);
        }
        return server;
      } catch (err) {
        lastError = err;
        if (!server.exited || port === 0) {
          await server.stop("SIGKILL").catch(() => {});
          throw err;
        }
        await delay(250);
      }
    }
    throw lastError;
  }

  async waitUntilListening() {
    const pattern = /api:\s+(http:\/\/\S+)/;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const line = this.lines.find((l) => pattern.test(l));
      if (line) {
        this.url = line.match(pattern)[1].replace(/\/+$/, "");
        this.port = Number(new URL(this.url).port);
        return;
      }
      if (this.exited || Date.now() > deadline) {
        const { code, signal } = this.exited ? await this.exit : {};
        throw new Error(
          `ferrovex serve did not start listening (exited: ${this.exited}, code ${code}, ` +
            `signal ${signal}).\nstdout:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`,
        );
      }
      await delay(10);
    }
  }

  /** Sends `signal` and waits for the process to exit; returns its exit status. */
  async stop(signal = "SIGINT") {
    if (!this.exited) this.proc.kill(signal);
    try {
      return await withTimeout(this.exit, 15_000, `the server to exit after ${signal}`);
    } catch (err) {
      this.proc.kill("SIGKILL");
      await this.exit;
      throw err;
    }
  }

  /** The function-execution log lines from index `from` on, parsed. */
  executions(from = 0) {
    return this.lines.slice(from).map(parseLogLine).filter((e) => e !== null);
  }

  /**
   * Makes sure every log line the server printed before this call has been
   * collected: runs an HTTP query with unique arguments and waits for its own
   * log line to show up in stdout.
   */
  async flushLog() {
    const from = this.lines.length;
    const http = new ConvexHttpClient(this.url, { logger: false });
    await http.query(api.counter.get, { name: unique("log-barrier") });
    await waitFor(
      () =>
        this.executions(from).some(
          (e) => e.kind === "Q" && e.name === "counter:get" && e.transport === "HTTP API",
        ),
      { what: "the barrier query's log line on stdout" },
    );
  }
}

/**
 * Parses `Q messages:list (WebSocket) success (cached) 0ms`, or returns null
 * for lines that are not function-execution lines.
 */
function parseLogLine(line) {
  const m = line.match(/\b([QMA])\s+(\S+:\S+)\s+\((WebSocket|HTTP API)\)\s+(\w+)(\s+\(cached\))?/);
  if (!m) return null;
  return {
    line,
    kind: m[1],
    name: m[2],
    transport: m[3],
    outcome: m[4],
    cached: m[5] !== undefined,
  };
}

/** Fresh (not cached) WebSocket executions of messages:list. */
function freshWsListRuns(executions) {
  return executions.filter(
    (e) =>
      e.kind === "Q" && e.name === "messages:list" && e.transport === "WebSocket" && !e.cached,
  );
}

after(async () => {
  for (const proc of children) {
    proc.kill("SIGKILL");
  }
  for (const dir of tempDirs) {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// Clients

/** Opens a ConvexClient that is closed when test `t` ends, pass or fail. */
function openClient(t, url) {
  const client = new ConvexClient(url, { logger: false });
  t.after(async () => {
    await client.close();
  });
  return client;
}

function httpClient(url) {
  return new ConvexHttpClient(url, { logger: false });
}

/**
 * Subscribes to messages:list on `channel` and records every callback value.
 * `latest()` is the last list seen (undefined before the first callback).
 */
function watchChannel(client, channel) {
  const values = [];
  const errors = [];
  const unsubscribe = client.onUpdate(
    api.messages.list,
    { channel },
    (messages) => values.push(messages),
    (err) => errors.push(err),
  );
  return {
    values,
    errors,
    unsubscribe,
    latest: () => values.at(-1),
    bodies: () => (values.at(-1) ?? []).map((m) => m.body),
    describe: () =>
      `${values.length} callbacks, lengths [${values.map((v) => v.length).join(",")}], ` +
      `latest bodies ${JSON.stringify((values.at(-1) ?? []).map((m) => m.body))}, ` +
      `errors ${JSON.stringify(errors.map((e) => e.message))}`,
  };
}

/** Subscribes to counter:get for `name`, recording every value. */
function watchCounter(client, name) {
  const values = [];
  const errors = [];
  const unsubscribe = client.onUpdate(
    api.counter.get,
    { name },
    (counter) => values.push(counter.value),
    (err) => errors.push(err),
  );
  return {
    values,
    unsubscribe,
    latest: () => values.at(-1),
    describe: () =>
      `values [${values.join(",")}], errors ${JSON.stringify(errors.map((e) => e.message))}`,
  };
}

/** Consecutive duplicates removed: [0,0,1,2,2] -> [0,1,2]. */
function dedupeRuns(xs) {
  return xs.filter((x, i) => i === 0 || x !== xs[i - 1]);
}

// ---------------------------------------------------------------------------

describe("sync protocol over WebSocket", () => {
  let server;
  before(async () => {
    server = await Server.start(await newDataDir());
  });
  after(async () => {
    await server?.stop("SIGINT");
  });

  test("a subscription receives writes made over WebSocket and over HTTP", async (t) => {
    const channel = unique("live");
    const watcher = openClient(t, server.url);
    const writer = openClient(t, server.url);
    const watch = watchChannel(watcher, channel);

    await waitFor(() => watch.values.length >= 1, {
      what: "the initial (empty) result",
      describeState: watch.describe,
    });
    assert.deepStrictEqual(watch.latest(), []);

    const wsId = await writer.mutation(api.messages.send, {
      channel,
      author: "ws-writer",
      body: "over websocket",
    });
    await waitFor(() => watch.latest()?.length === 1, {
      what: "the WebSocket-written message in the subscription",
      describeState: watch.describe,
    });

    const httpId = await httpClient(server.url).mutation(api.messages.send, {
      channel,
      author: "http-writer",
      body: "over http",
    });
    await waitFor(() => watch.latest()?.length === 2, {
      what: "the HTTP-written message in the subscription",
      describeState: watch.describe,
    });

    assert.deepStrictEqual(
      watch.latest().map((m) => [m._id, m.channel, m.author, m.body]),
      [
        [wsId, channel, "ws-writer", "over websocket"],
        [httpId, channel, "http-writer", "over http"],
      ],
    );
    assert.deepStrictEqual(dedupeRuns(watch.values.map((v) => v.length)), [0, 1, 2]);
    assert.deepStrictEqual(watch.errors, []);
  });

  test("quick increments with an optimistic update never show more than were made", async (t) => {
    // The client applies each optimistic update until a Transition reaches its mutation's
    // timestamp; a server that sent a write before its MutationResponse would make the
    // client count that increment twice for a moment.
    const name = unique("optimistic");
    const client = openClient(t, server.url);
    const seen = [];
    const unsubscribe = client.onUpdate(api.counter.get, { name }, (c) => seen.push(Number(c.value)));
    t.after(() => unsubscribe());
    await waitFor(() => seen.length >= 1, { what: "the initial counter" });
    const optimisticUpdate = (store, args) => {
      const current = store.getQuery(api.counter.get, { name: args.name });
      if (current !== undefined) {
        store.setQuery(api.counter.get, { name: args.name }, { ...current, value: current.value + 1n });
      }
    };
    for (let round = 0; round < 5; round++) {
      const started = round * 10;
      const from = seen.length;
      const made = [];
      for (let i = 0; i < 10; i++) {
        made.push(client.mutation(api.counter.increment, { name }, { optimisticUpdate }));
      }
      await Promise.all(made);
      await waitFor(() => seen.at(-1) === started + 10, {
        what: `the counter at ${started + 10}`,
        describeState: () => JSON.stringify(seen),
      });
      const shown = seen.slice(from);
      assert.ok(
        shown.every((v) => v <= started + 10),
        `round ${round}: ${started + 10} increments made, the counter showed ${JSON.stringify(shown)}`,
      );
    }
  });

  test("an oversized frame is closed with 1009 MessageTooBig, every time", async () => {
    // Node's ws reads while it is still sending the frame; a server that closed the socket
    // on the unread rest would reset the connection and lose its close frame (1006).
    const codes = [];
    for (let i = 0; i < 6; i++) {
      codes.push(
        await new Promise((resolve) => {
          const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/sync`);
          ws.on("open", () => {
            ws.send(JSON.stringify({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: null }));
            ws.send(JSON.stringify({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ author: "a", body: "x".repeat(9 << 20) }] }));
          });
          ws.on("close", (code, reason) => resolve(`${code} ${reason.toString().split(":")[0]}`));
          ws.on("error", () => {});
        }),
      );
    }
    assert.deepStrictEqual(codes, Array(6).fill("1009 MessageTooBig"));
  });

  test("a query right after an awaited mutation sees the write (read-your-writes)", async (t) => {
    const channel = unique("ryw");
    const client = openClient(t, server.url);
    for (let i = 0; i < 20; i++) {
      const id = await client.mutation(api.messages.send, {
        channel,
        author: "ryw",
        body: `write ${i}`,
      });
      const messages = await client.query(api.messages.list, { channel });
      assert.equal(messages.length, i + 1, `iteration ${i}: list length`);
      assert.equal(messages.at(-1)._id, id, `iteration ${i}: the newest message is the write`);
      assert.equal(messages.at(-1).body, `write ${i}`);
    }
  });

  test("one HTTP write reaches 100 subscriptions spread over 10 sockets", async (t) => {
    const channel = unique("fanout");
    const watches = [];
    for (let c = 0; c < 10; c++) {
      const client = openClient(t, server.url);
      for (let s = 0; s < 10; s++) {
        watches.push(watchChannel(client, channel));
      }
    }
    const summary = () => {
      const ready = watches.filter((w) => w.values.length > 0).length;
      const seen = watches.filter((w) => w.latest()?.length === 1).length;
      return `${ready}/100 have a result, ${seen}/100 see the message`;
    };

    await waitFor(() => watches.every((w) => w.values.length >= 1), {
      what: "all 100 subscriptions to get their initial result",
      describeState: summary,
    });
    for (const w of watches) assert.deepStrictEqual(w.latest(), []);

    const id = await httpClient(server.url).mutation(api.messages.send, {
      channel,
      author: "broadcaster",
      body: "to everyone",
    });
    await waitFor(() => watches.every((w) => w.latest()?.length === 1), {
      what: "all 100 subscriptions to see the message",
      describeState: summary,
    });
    for (const w of watches) {
      assert.deepStrictEqual(
        w.latest().map((m) => [m._id, m.body]),
        [[id, "to everyone"]],
      );
      assert.deepStrictEqual(w.errors, []);
    }
  });

  test("a WebSocket subscription reuses the cached result of an identical HTTP query", async (t) => {
    const channel = unique("cache");
    await server.flushLog();
    const from = server.lines.length;

    const viaHttp = await httpClient(server.url).query(api.messages.list, { channel });
    assert.deepStrictEqual(viaHttp, []);

    const client = openClient(t, server.url);
    const watch = watchChannel(client, channel);
    await waitFor(() => watch.values.length >= 1, {
      what: "the subscription's first result",
      describeState: watch.describe,
    });
    assert.deepStrictEqual(watch.latest(), []);
    await server.flushLog();

    const listRuns = server
      .executions(from)
      .filter((e) => e.kind === "Q" && e.name === "messages:list")
      .map((e) => `${e.transport} ${e.outcome}${e.cached ? " (cached)" : ""}`);
    t.diagnostic(`messages:list executions: ${JSON.stringify(listRuns)}`);
    assert.deepStrictEqual(
      listRuns,
      ["HTTP API success", "WebSocket success (cached)"],
      `messages:list executions since the test started:\n${listRuns.join("\n")}`,
    );
  });

  test("an action called over WebSocket returns its result", async (t) => {
    const client = openClient(t, server.url);
    const result = await withTimeout(
      client.action(api.demo.echo, { value: 5n }),
      WAIT_MS,
      "demo:echo",
    );
    assert.equal(typeof result, "bigint");
    assert.equal(result, 5n);
  });

  test("a ConvexError thrown by a mutation reaches the WebSocket client with its data", async (t) => {
    const client = openClient(t, server.url);
    const channel = unique("invalid");
    await assert.rejects(
      withTimeout(
        client.mutation(api.messages.send, { channel, author: "x", body: "" }),
        WAIT_MS,
        "the rejected mutation",
      ),
      (err) => {
        assert.ok(
          err instanceof ConvexError,
          `expected a ConvexError, got ${err?.name}: ${err?.message}`,
        );
        assert.deepStrictEqual(err.data, { code: "INVALID_BODY" });
        return true;
      },
    );
    // The failed mutation wrote nothing.
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });
});

// ---------------------------------------------------------------------------

describe("subscription precision", () => {
  let server;
  before(async () => {
    server = await Server.start(await newDataDir());
  });
  after(async () => {
    await server?.stop("SIGINT");
  });

  test("100 writes to one channel re-run only that channel's subscription, at most once per write", async (t) => {
    const suffix = unique("precision");
    const channelA = `a-${suffix}`;
    const channelB = `b-${suffix}`;
    const clientA = openClient(t, server.url);
    const clientB = openClient(t, server.url);
    const watchA = watchChannel(clientA, channelA);
    const watchB = watchChannel(clientB, channelB);
    await waitFor(() => watchA.values.length >= 1 && watchB.values.length >= 1, {
      what: "both subscriptions to be established",
      describeState: () => `A: ${watchA.describe()}; B: ${watchB.describe()}`,
    });
    await server.flushLog();
    const from = server.lines.length;

    const http = httpClient(server.url);
    for (let i = 0; i < 100; i++) {
      await http.mutation(api.messages.send, { channel: channelB, author: "w", body: `b${i}` });
    }
    await waitFor(() => watchB.latest()?.length === 100, {
      what: "B to see all 100 messages",
      describeState: watchB.describe,
    });
    await server.flushLog();

    const fresh = freshWsListRuns(server.executions(from));
    t.diagnostic(`fresh WebSocket messages:list runs during 100 writes: ${fresh.length}`);
    assert.ok(
      fresh.length >= 1 && fresh.length <= 100,
      `expected 1..=100 fresh WebSocket messages:list runs, got ${fresh.length}`,
    );
    assert.deepStrictEqual(watchA.latest(), []);
    assert.deepStrictEqual(watchB.bodies(), Array.from({ length: 100 }, (_, i) => `b${i}`));
  });

  test("writes to another channel never re-run a subscription", async (t) => {
    const suffix = unique("precision-only-a");
    const channelA = `a-${suffix}`;
    const channelB = `b-${suffix}`;
    const clientA = openClient(t, server.url);
    const watchA = watchChannel(clientA, channelA);
    await waitFor(() => watchA.values.length >= 1, {
      what: "A's subscription to be established",
      describeState: watchA.describe,
    });
    await server.flushLog();
    const from = server.lines.length;

    const http = httpClient(server.url);
    for (let i = 0; i < 100; i++) {
      await http.mutation(api.messages.send, { channel: channelB, author: "w", body: `b${i}` });
    }
    // Sentinel: a write to A's channel must re-run A's query exactly once.
    // Invalidations are processed in commit order, so once A has seen the
    // sentinel, any re-run caused by the 100 writes to B has already happened.
    await http.mutation(api.messages.send, { channel: channelA, author: "w", body: "sentinel" });
    await waitFor(() => watchA.latest()?.length === 1, {
      what: "A to see the sentinel message",
      describeState: watchA.describe,
    });
    await server.flushLog();

    const fresh = freshWsListRuns(server.executions(from));
    t.diagnostic(`fresh WebSocket messages:list runs (incl. sentinel): ${fresh.length}`);
    assert.equal(
      fresh.length,
      1,
      `expected exactly one fresh WebSocket messages:list run (the sentinel's), got ` +
        `${fresh.length}; i.e. ${fresh.length - 1} re-runs caused by writes to another channel`,
    );
    assert.deepStrictEqual(watchA.bodies(), ["sentinel"]);
    assert.deepStrictEqual(
      dedupeRuns(watchA.values.map((v) => v.length)),
      [0, 1],
      `A's callback values: ${watchA.describe()}`,
    );
  });
});

// ---------------------------------------------------------------------------

describe("server restarts", () => {
  let server;
  let dir;
  let port;
  before(async () => {
    dir = await newDataDir();
    server = await Server.start(dir);
    port = server.port;
  });
  after(async () => {
    await server?.stop("SIGINT");
  });

  /** Stops the server with `signal` and starts it again on the same dir and port. */
  async function restart(signal) {
    const status = await server.stop(signal);
    if (signal === "SIGINT") {
      assert.deepStrictEqual(
        status,
        { code: 0, signal: null },
        `a SIGINT shutdown should exit cleanly; stderr:\n${server.stderr}`,
      );
    }
    server = await Server.start(dir, port);
    assert.equal(server.port, port);
  }

  for (const signal of ["SIGINT", "SIGKILL"]) {
    test(`an open subscription resumes after a ${signal} restart`, async (t) => {
      const channel = unique(`restart-${signal}`);
      const counter = unique(`restart-counter-${signal}`);
      const client = openClient(t, server.url);
      const watch = watchChannel(client, channel);
      const counterWatch = watchCounter(client, counter);
      const http = httpClient(server.url);

      await http.mutation(api.messages.send, { channel, author: "w", body: "before" });
      await waitFor(() => watch.latest()?.length === 1, {
        what: "the message sent before the restart",
        describeState: watch.describe,
      });
      await waitFor(() => counterWatch.latest() === 0n, {
        what: "the counter's initial value 0n",
        describeState: counterWatch.describe,
      });

      await restart(signal);

      const url = server.url;
      await httpClient(url).mutation(api.messages.send, { channel, author: "w", body: "after" });
      assert.equal(await httpClient(url).mutation(api.counter.increment, { name: counter }), 1n);

      await waitFor(() => watch.latest()?.length === 2, {
        what: `the message sent after the ${signal} restart`,
        timeout: RECONNECT_WAIT_MS,
        describeState: watch.describe,
      });
      assert.deepStrictEqual(watch.bodies(), ["before", "after"]);
      await waitFor(() => counterWatch.latest() === 1n, {
        what: `the counter incremented after the ${signal} restart`,
        timeout: RECONNECT_WAIT_MS,
        describeState: counterWatch.describe,
      });
      assert.ok(client.connectionState().isWebSocketConnected);
      t.diagnostic(`connection count after restart: ${client.connectionState().connectionCount}`);
    });
  }

  for (const signal of ["SIGINT", "SIGKILL"]) {
    test(`a mutation issued while the server is down (${signal}) runs exactly once after it is back`, async (t) => {
      const counter = unique(`offline-${signal}`);
      const client = openClient(t, server.url);
      const http = httpClient(server.url);

      assert.equal(await client.mutation(api.counter.increment, { name: counter, by: 10n }), 10n);
      assert.equal(client.connectionState().isWebSocketConnected, true);

      await server.stop(signal);
      await waitFor(() => !client.connectionState().isWebSocketConnected, {
        what: "the client to notice the server is gone",
      });

      const pending = client.mutation(api.counter.increment, { name: counter, by: 1n });
      const outcome = { state: "pending" };
      pending.then(
        (value) => Object.assign(outcome, { state: "resolved", value }),
        (error) => Object.assign(outcome, { state: "rejected", error }),
      );
      // Give a wrongly-settling promise a chance to settle while nothing listens.
      await delay(300);
      assert.equal(outcome.state, "pending", `the mutation settled while the server was down: ${outcome.error ?? outcome.value}`);

      server = await Server.start(dir, port);

      const value = await withTimeout(
        pending,
        RECONNECT_WAIT_MS,
        "the queued mutation to resolve after the restart",
      );
      assert.equal(value, 11n);
      const read = await http.query(api.counter.get, { name: counter });
      assert.deepStrictEqual(read, { name: counter, value: 11n });

      // The mutation must not be replayed later either: another round trip on
      // the same connection, then read again.
      assert.equal(await client.mutation(api.counter.increment, { name: counter, by: 100n }), 111n);
      const reread = await http.query(api.counter.get, { name: counter });
      assert.equal(reread.value, 111n);
      const increments = server
        .executions()
        .filter((e) => e.kind === "M" && e.name === "counter:increment" && e.transport === "WebSocket");
      assert.equal(
        increments.length,
        2,
        `counter:increment WebSocket executions on the restarted server:\n${increments.map((e) => e.line).join("\n")}`,
      );
    });
  }
});
