// A scaffolded app (`ferrovex init`) called through the `api` its own `codegen` wrote, with
// the official clients: ConvexHttpClient and ConvexClient.
//
// Run by crates/cli/tests/it/app.rs with CONVEX_URL (the app's API origin) and APP_API (the
// absolute path of the generated api.js).

import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";

import { ConvexClient, ConvexHttpClient } from "convex/browser";

const CONVEX_URL = process.env.CONVEX_URL;
const APP_API = process.env.APP_API;
if (!CONVEX_URL || !APP_API) {
  throw new Error("CONVEX_URL and APP_API must be set (see crates/cli/tests/it/app.rs)");
}
const { api, internal } = await import(pathToFileURL(APP_API).href);

const http = new ConvexHttpClient(CONVEX_URL, { logger: false });
const live = new ConvexClient(CONVEX_URL, { logger: false });
after(() => live.close());

const list = () => `list-${randomUUID().slice(0, 8)}`;

/** Resolves with the first value of a subscription that satisfies `accept`. */
function firstMatching(ref, args, accept, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching update within ${ms} ms`)), ms);
    const unsubscribe = live.onUpdate(ref, args, (value) => {
      if (accept(value)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    });
  });
}

describe("the generated api", () => {
  test("ConvexHttpClient runs the app's mutation, query and action", async () => {
    const name = list();
    const id = await http.mutation(api.tasks.add, { text: "from node", list: name });
    assert.equal(typeof id, "string");
    const tasks = await http.query(api.tasks.list, { list: name });
    assert.deepEqual(
      tasks.map((t) => [t._id, t.text, t.done, t.list]),
      [[id, "from node", false, name]],
    );
    assert.equal(typeof tasks[0]._creationTime, "number");
    // The action reads through an internal query; Rust integers arrive as bigints.
    assert.deepEqual(await http.action(api.tasks.summary, { list: name }), { list: name, openCount: 1n });
    await http.mutation(api.tasks.setDone, { id, done: true });
    assert.deepEqual(await http.action(api.tasks.summary, { list: name }), { list: name, openCount: 0n });
  });

  test("ConvexClient sees a mutation live on its subscription", async () => {
    const name = list();
    const empty = firstMatching(api.tasks.list, { list: name }, (tasks) => tasks.length === 0);
    await empty;
    const arrived = firstMatching(api.tasks.list, { list: name }, (tasks) => tasks.length === 1);
    await live.mutation(api.tasks.add, { text: "live", list: name });
    const tasks = await arrived;
    assert.equal(tasks[0].text, "live");
  });

  test("clients cannot call an internal function", async () => {
    await assert.rejects(
      http.query(internal.tasks.openCount, { list: list() }),
      (e) => e.message.includes("Could not find public function for 'tasks:openCount'."),
    );
    await assert.rejects(
      live.query(internal.tasks.openCount, { list: list() }),
      (e) => e.message.includes("Could not find public function for 'tasks:openCount'."),
    );
  });

  test("bad arguments get Convex's validation error, and nothing is written", async () => {
    const name = list();
    await assert.rejects(http.mutation(api.tasks.add, { text: 5, list: name }), (e) => {
      assert.equal(
        e.message,
        "ArgumentValidationError: Value does not match validator.\nPath: .text\nValue: 5.0\nValidator: v.string()",
      );
      return true;
    });
    assert.deepEqual(await http.query(api.tasks.list, { list: name }), []);
  });
});
