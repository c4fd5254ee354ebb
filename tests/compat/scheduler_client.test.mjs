// Scheduled functions seen through the official clients: scheduling is part of the
// mutation's transaction, and a ConvexClient subscribed to `reminders:list` sees each
// reminder arrive. Run by crates/cli/tests/it/scheduler.rs with CONVEX_URL.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const CONVEX_URL = process.env.CONVEX_URL;
if (!CONVEX_URL) throw new Error("CONVEX_URL is not set");
const api = anyApi;
const http = new ConvexHttpClient(CONVEX_URL, { logger: false });
const live = new ConvexClient(CONVEX_URL, { logger: false });
after(() => live.close());

const run = randomUUID().slice(0, 8);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a mutation that schedules and then fails schedules nothing", async () => {
  const text = `doomed-${run}`;
  await assert.rejects(http.mutation(api.reminders.scheduleThenFail, { text }), (e) => {
    assert.ok(e instanceof ConvexError);
    assert.deepEqual(e.data, { code: "DELIBERATE_FAILURE" });
    return true;
  });
  await sleep(400);
  const jobs = await http.query(api.reminders.jobs, {});
  assert.equal(jobs.filter((j) => j.args.text === text).length, 0, JSON.stringify(jobs));
  const fired = await http.query(api.reminders.list, {});
  assert.equal(fired.filter((r) => r.text === text).length, 0);
});

test("an invalid reminder is refused and nothing is scheduled", async () => {
  const before = (await http.query(api.reminders.jobs, {})).length;
  await assert.rejects(http.mutation(api.reminders.schedule, { text: "", delayMs: 10 }), (e) => {
    assert.deepEqual(e.data, { code: "INVALID_TEXT" });
    return true;
  });
  await assert.rejects(
    http.mutation(api.reminders.schedule, { text: "x".repeat(201), delayMs: 10 }),
    (e) => e.data?.code === "INVALID_TEXT",
  );
  assert.equal((await http.query(api.reminders.jobs, {})).length, before);
});

test("a ConvexClient subscribed to reminders:list sees each reminder arrive", async () => {
  const texts = [0, 1, 2, 3, 4].map((i) => `live-${run}-${i}`);
  const seen = [];
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw only ${JSON.stringify(seen)}`)), 15_000);
    const unsubscribe = live.onUpdate(api.reminders.list, {}, (reminders) => {
      const mine = reminders.map((r) => r.text).filter((t) => texts.includes(t));
      if (mine.length > seen.length) seen.push(...mine.slice(seen.length));
      if (mine.length === texts.length) {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  });
  const jobs = [];
  for (const [i, text] of texts.entries()) {
    jobs.push(await live.mutation(api.reminders.schedule, { text, delayMs: 200 + i * 250 }));
  }
  await done;
  // One update per reminder (they fire 250 ms apart), in order.
  assert.deepEqual(seen, texts);
  const rows = await http.query(api.reminders.jobs, {});
  for (const id of jobs) {
    const row = rows.find((r) => r._id === id);
    assert.equal(row.state.kind, "success");
    assert.equal(typeof row.scheduledTime, "number");
  }
  const fired = (await http.query(api.reminders.list, {})).filter((r) => texts.includes(r.text));
  for (const r of fired) {
    assert.equal(typeof r.firedAt, "number");
    assert.equal(typeof r._creationTime, "number");
  }
});
