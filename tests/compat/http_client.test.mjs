// Compatibility tests: the official `convex` npm client (ConvexHttpClient)
// talking to a Ferrovex server over the Convex HTTP API.
//
// Run against a running server:
//   CONVEX_URL=http://127.0.0.1:PORT node --test tests/compat/
//
// Every test writes only to channels/counters whose names carry a random
// per-run suffix, so the suite can be rerun against the same data directory.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";

import { ConvexHttpClient } from "convex/browser";
import { anyApi, makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";

const CONVEX_URL = process.env.CONVEX_URL;
if (!CONVEX_URL) {
  // Fail the file loudly rather than skipping: a missing URL means the suite
  // did not test anything.
  throw new Error(
    "CONVEX_URL is not set. Start a Ferrovex server and run e.g. " +
      "`CONVEX_URL=http://127.0.0.1:PORT node --test tests/compat/`.",
  );
}

const api = anyApi;

/** A client that does not echo server log lines to the console. */
function newClient() {
  return new ConvexHttpClient(CONVEX_URL, { logger: false });
}

const client = newClient();

const RUN_ID = randomUUID().slice(0, 8);
/** A channel or counter name unique to this run (and to `label`). */
function unique(label) {
  return `compat-${label}-${RUN_ID}`;
}

/**
 * Asserts that `promise` rejects with a ConvexError carrying exactly `data`.
 */
async function assertRejectsWithConvexError(promise, data) {
  await assert.rejects(promise, (err) => {
    assert.ok(
      err instanceof ConvexError,
      `expected a ConvexError, got ${err?.name}: ${err?.message}`,
    );
    assert.deepStrictEqual(err.data, data);
    return true;
  });
}

/**
 * Asserts that `promise` rejects with a plain Error (not a ConvexError) whose
 * message satisfies `check`.
 */
async function assertRejectsWithMessage(promise, check, description) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.ok(
      !(err instanceof ConvexError),
      `expected a plain Error, got a ConvexError with data ${JSON.stringify(err.data)}`,
    );
    assert.ok(
      check(err.message),
      `expected the message to ${description}, got: ${JSON.stringify(err.message)}`,
    );
    return true;
  });
}

/**
 * Turns a Convex value into a tagged tree that spells out its exact Convex
 * type, so that `deepStrictEqual` on two tagged trees fails on any type
 * confusion (bigint vs number, -0 vs 0, ArrayBuffer vs typed array, ...)
 * and prints a readable diff.
 */
function tagged(value) {
  if (value === null) return { null: null };
  switch (typeof value) {
    case "boolean":
      return { boolean: value };
    case "bigint":
      return { int64: value.toString() };
    case "number":
      return { float64: Object.is(value, -0) ? "-0" : String(value) };
    case "string":
      return { string: value };
    case "object":
      if (value instanceof ArrayBuffer) {
        return { bytes: Array.from(new Uint8Array(value)) };
      }
      if (Array.isArray(value)) {
        return { array: value.map(tagged) };
      }
      if (Object.getPrototypeOf(value) === Object.prototype) {
        const keys = Object.keys(value).sort();
        return { object: Object.fromEntries(keys.map((k) => [k, tagged(value[k])])) };
      }
      break;
  }
  throw new Error(`not a Convex value: ${Object.prototype.toString.call(value)} ${String(value)}`);
}

function assertSameConvexValue(actual, expected) {
  assert.deepStrictEqual(tagged(actual), tagged(expected));
}

function bytes(...values) {
  return new Uint8Array(values).buffer;
}

// ---------------------------------------------------------------------------

describe("query, mutation and action round trips", () => {
  test("a sent message is listed back with its system fields", async () => {
    const channel = unique("roundtrip");
    const before = Date.now();

    const id = await client.mutation(api.messages.send, {
      channel,
      author: "alice",
      body: "hello, ferrovex",
    });
    assert.equal(typeof id, "string");
    assert.ok(id.length > 0);

    const messages = await client.query(api.messages.list, { channel });
    assert.ok(Array.isArray(messages));
    assert.equal(messages.length, 1);

    const [message] = messages;
    assert.deepStrictEqual(Object.keys(message).sort(), [
      "_creationTime",
      "_id",
      "author",
      "body",
      "channel",
    ]);
    assert.equal(message._id, id);
    assert.equal(typeof message._creationTime, "number");
    assert.ok(
      Math.abs(message._creationTime - before) < 5 * 60 * 1000,
      `_creationTime ${message._creationTime} should be milliseconds since the epoch, near ${before}`,
    );
    assert.equal(message.channel, channel);
    assert.equal(message.author, "alice");
    assert.equal(message.body, "hello, ferrovex");
  });

  test("messages are listed oldest first", async () => {
    const channel = unique("order");
    const firstId = await client.mutation(api.messages.send, {
      channel,
      author: "alice",
      body: "first",
    });
    const secondId = await client.mutation(api.messages.send, {
      channel,
      author: "bob",
      body: "second",
    });
    assert.notEqual(firstId, secondId);

    const messages = await client.query(api.messages.list, { channel });
    assert.deepStrictEqual(
      messages.map((m) => [m._id, m.author, m.body]),
      [
        [firstId, "alice", "first"],
        [secondId, "bob", "second"],
      ],
    );
    assert.ok(
      messages[0]._creationTime < messages[1]._creationTime,
      "the older message has the smaller _creationTime",
    );
  });

  test("messages only appear in their own channel", async () => {
    const channelA = unique("isolation-a");
    const channelB = unique("isolation-b");
    await client.mutation(api.messages.send, { channel: channelA, author: "a", body: "in A" });

    assert.deepStrictEqual(await client.query(api.messages.list, { channel: channelB }), []);
    const inA = await client.query(api.messages.list, { channel: channelA });
    assert.deepStrictEqual(inA.map((m) => m.body), ["in A"]);
  });

  test('the channel defaults to "general"', async () => {
    const body = `default channel ${RUN_ID}`;
    const id = await client.mutation(api.messages.send, { author: "carol", body });

    const general = await client.query(api.messages.list, {});
    const mine = general.filter((m) => m._id === id);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].channel, "general");
    assert.equal(mine[0].body, body);
  });

  test("an action returns its result", async () => {
    const result = await client.action(api.demo.echo, { value: "from an action" });
    assert.equal(result, "from an action");
  });
});

// ---------------------------------------------------------------------------

describe("every Convex value type survives a round trip through an action", () => {
  const allByteValues = new Uint8Array(256).map((_, i) => i).buffer;
  const largeBytes = new Uint8Array(randomBytes(64 * 1024)).buffer;

  let nested = { leaf: [1n, 2.5, "deep", bytes(7, 8, 9), null, false] };
  for (let depth = 0; depth < 12; depth++) {
    nested = { level: depth, child: nested, siblings: [depth, BigInt(depth), [`s${depth}`, []]] };
  }

  const manyKeys = {};
  for (let i = 0; i < 1000; i++) {
    const kinds = [i, BigInt(i), `value ${i}`, i % 2 === 0, null, bytes(i % 256)];
    manyKeys[`key_${String(i).padStart(4, "0")}`] = kinds[i % kinds.length];
  }

  const cases = [
    ["null", null],
    ["true", true],
    ["false", false],

    ["int64 zero", 0n],
    ["int64 one", 1n],
    ["int64 minus one", -1n],
    ["int64 minimum", -(2n ** 63n)],
    ["int64 maximum", 2n ** 63n - 1n],
    ["int64 beyond float precision", 2n ** 53n + 1n],

    ["float zero", 0],
    ["float negative zero", -0],
    ["float NaN", NaN],
    ["float Infinity", Infinity],
    ["float -Infinity", -Infinity],
    ["float 1.5", 1.5],
    ["float -1", -1],
    ["float integer 42", 42],
    ["float 0.1 + 0.2", 0.1 + 0.2],
    ["float largest finite", Number.MAX_VALUE],
    ["float most negative finite", -Number.MAX_VALUE],
    ["float smallest subnormal", Number.MIN_VALUE],
    ["float epsilon", Number.EPSILON],
    ["float 1e-300", 1e-300],
    ["float 2^53 + 2", 2 ** 53 + 2],
    ["float -1.2345e+250", -1.2345e250],

    ["empty string", ""],
    ["ascii string", "hello"],
    ["latin-1 string", "héllo wörld, ça va"],
    ["astral-plane string", "crab 🦀 rocket 🚀 family 👩‍👩‍👧"],
    ["CJK and RTL string", "日本語 中文 한국어 العربية עברית"],
    ["string with escapes", 'quote " backslash \\ newline \n tab \t'],
    ["string with NUL and control characters", "a\u0000b\u0001c\u001f"],
    ["long string", "x".repeat(100_000)],

    ["empty bytes", new ArrayBuffer(0)],
    ["three bytes", bytes(1, 2, 3)],
    ["all 256 byte values", allByteValues],
    ["64 KiB of random bytes", largeBytes],

    ["empty array", []],
    ["empty object", {}],
    ["array of mixed types", [null, true, 1n, 1, "s", bytes(255), [], {}]],
    [
      "nested arrays and objects",
      { a: [1, [2, [3, { b: { c: [{ d: 4n }] } }]]], e: { f: { g: { h: "deep" } } } },
    ],
    ["twelve levels of nesting", nested],
    ["object with 1000 keys", manyKeys],
  ];

  for (const [name, value] of cases) {
    test(name, async () => {
      const result = await client.action(api.demo.echo, { value });
      assertSameConvexValue(result, value);
    });
  }

  test("negative zero stays negative zero", async () => {
    assert.ok(Object.is(await client.action(api.demo.echo, { value: -0 }), -0));
  });

  test("NaN stays NaN", async () => {
    assert.ok(Number.isNaN(await client.action(api.demo.echo, { value: NaN })));
  });

  test("int64 comes back as a bigint and float as a number", async () => {
    assert.equal(typeof (await client.action(api.demo.echo, { value: 7n })), "bigint");
    assert.equal(typeof (await client.action(api.demo.echo, { value: 7 })), "number");
  });

  test("bytes come back as an ArrayBuffer with the same content", async () => {
    const result = await client.action(api.demo.echo, { value: bytes(0, 127, 128, 255) });
    assert.ok(result instanceof ArrayBuffer, `expected an ArrayBuffer, got ${result}`);
    assert.deepStrictEqual(Array.from(new Uint8Array(result)), [0, 127, 128, 255]);
  });
});

// ---------------------------------------------------------------------------

describe("int64 counters", () => {
  test("increment returns the new value as a bigint and get reads it back", async () => {
    const name = unique("counter");

    const afterFirst = await client.mutation(api.counter.increment, { name, by: 5n });
    assert.equal(typeof afterFirst, "bigint");
    assert.equal(afterFirst, 5n);

    const afterSecond = await client.mutation(api.counter.increment, { name, by: 5n });
    assert.equal(afterSecond, 10n);

    const current = await client.query(api.counter.get, { name });
    assert.deepStrictEqual(current, { name, value: 10n });
    assert.equal(typeof current.value, "bigint");
  });

  test("counters with different names are independent", async () => {
    const a = unique("counter-a");
    const b = unique("counter-b");
    await client.mutation(api.counter.increment, { name: a, by: 3n });
    await client.mutation(api.counter.increment, { name: b, by: 4n });

    assert.deepStrictEqual(await client.query(api.counter.get, { name: a }), { name: a, value: 3n });
    assert.deepStrictEqual(await client.query(api.counter.get, { name: b }), { name: b, value: 4n });
  });
});

// ---------------------------------------------------------------------------

describe("application errors (ConvexError)", () => {
  test("an empty body is rejected with INVALID_BODY", async () => {
    const channel = unique("empty-body");
    await assertRejectsWithConvexError(
      client.mutation(api.messages.send, { channel, author: "alice", body: "" }),
      { code: "INVALID_BODY" },
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("a 2001-character body is rejected with INVALID_BODY", async () => {
    const channel = unique("long-body");
    await assertRejectsWithConvexError(
      client.mutation(api.messages.send, { channel, author: "alice", body: "b".repeat(2001) }),
      { code: "INVALID_BODY" },
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("a body of exactly 2000 characters is accepted", async () => {
    const channel = unique("max-body");
    const body = "m".repeat(2000);
    const id = await client.mutation(api.messages.send, { channel, author: "alice", body });
    assert.equal(typeof id, "string");

    const messages = await client.query(api.messages.list, { channel });
    assert.equal(messages.length, 1);
    assert.equal(messages[0].body, body);
  });

  test("a mutation that fails after writing is rolled back", async () => {
    const channel = unique("rollback");
    await assertRejectsWithConvexError(
      client.mutation(api.demo.failAfterWrite, { channel }),
      { code: "DELIBERATE_FAILURE" },
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("the client keeps working after a failed mutation", async () => {
    const channel = unique("after-failure");
    await assertRejectsWithConvexError(
      client.mutation(api.demo.failAfterWrite, { channel }),
      { code: "DELIBERATE_FAILURE" },
    );
    await client.mutation(api.messages.send, { channel, author: "alice", body: "still here" });
    const messages = await client.query(api.messages.list, { channel });
    assert.deepStrictEqual(messages.map((m) => m.body), ["still here"]);
  });
});

// ---------------------------------------------------------------------------

describe("system errors", () => {
  const missing = makeFunctionReference("doesNotExist:atAll");
  const notFound = (message) => message.includes("Could not find public function");

  test("calling an unknown query rejects", async () => {
    await assertRejectsWithMessage(client.query(missing, {}), notFound, 'contain "Could not find public function"');
  });

  test("calling an unknown mutation rejects", async () => {
    await assertRejectsWithMessage(client.mutation(missing, {}), notFound, 'contain "Could not find public function"');
  });

  test("calling an unknown action rejects", async () => {
    await assertRejectsWithMessage(client.action(missing, {}), notFound, 'contain "Could not find public function"');
  });

  test("calling an unknown function in a known module rejects", async () => {
    await assertRejectsWithMessage(
      client.query(api.messages.doesNotExist, {}),
      notFound,
      'contain "Could not find public function"',
    );
  });

  const argumentError = (message) => message.startsWith("ArgumentValidationError");
  /** Rejects unless the error message is exactly `expected` (Convex's wording). */
  const exactly = (expected) => (message) => {
    assert.equal(message, expected);
    return true;
  };
  const sendValidator =
    "v.object({author: v.string(), body: v.string(), channel: v.optional(v.union(v.string(), v.null()))})";

  test("an argument of the wrong type is rejected by the validator", async () => {
    await assertRejectsWithMessage(
      client.query(api.messages.list, { channel: 5 }),
      exactly(
        "ArgumentValidationError: Value does not match validator.\nPath: .channel\nValue: 5.0\nValidator: v.union(v.string(), v.null())",
      ),
      "name the path, the value and the validator",
    );
    const channel = unique("wrong-type");
    await assertRejectsWithMessage(
      client.mutation(api.messages.send, { channel, author: "a", body: 5 }),
      exactly(
        "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: 5.0\nValidator: v.string()",
      ),
      "name the path, the value and the validator",
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("a missing required argument is rejected by the validator", async () => {
    const channel = unique("missing-author");
    await assertRejectsWithMessage(
      client.mutation(api.messages.send, { channel, body: "no author" }),
      exactly(
        "ArgumentValidationError: Object is missing the required field `author`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n\n" +
          `Object: {body: "no author", channel: "${channel}"}\nValidator: ${sendValidator}`,
      ),
      "name the missing field, the object and the validator",
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("an extra argument is rejected by the validator", async () => {
    const channel = unique("extra-field");
    await assertRejectsWithMessage(
      client.mutation(api.messages.send, { channel, author: "a", body: "x", extra: 1 }),
      exactly(
        "ArgumentValidationError: Object contains extra field `extra` that is not in the validator.\n\n" +
          `Object: {author: "a", body: "x", channel: "${channel}", extra: 1.0}\nValidator: ${sendValidator}`,
      ),
      "name the extra field, the object and the validator",
    );
    assert.deepStrictEqual(await client.query(api.messages.list, { channel }), []);
  });

  test("a float where an int64 is expected is rejected by the validator", async () => {
    await assertRejectsWithMessage(
      client.mutation(api.counter.increment, { name: unique("float-by"), by: 5 }),
      argumentError,
      'start with "ArgumentValidationError"',
    );
  });
});

// ---------------------------------------------------------------------------

describe("function path forms", () => {
  test('"messages.js:list" names the same function as "messages:list"', async () => {
    const channel = unique("path-forms");
    await client.mutation(api.messages.send, { channel, author: "alice", body: "via path" });

    const viaShortPath = await client.query(makeFunctionReference("messages:list"), { channel });
    const viaJsPath = await client.query(makeFunctionReference("messages.js:list"), { channel });

    assert.equal(viaJsPath.length, 1);
    assert.deepStrictEqual(viaJsPath, viaShortPath);
  });
});

// ---------------------------------------------------------------------------

describe("pagination", () => {
  test("paging 25 messages 10 at a time yields each message once, in order", async () => {
    const channel = unique("paging");
    const expectedBodies = Array.from({ length: 25 }, (_, i) => `message ${String(i).padStart(2, "0")}`);
    for (const body of expectedBodies) {
      await client.mutation(api.messages.send, { channel, author: "pager", body });
    }

    const collected = [];
    let cursor = null;
    let pages = 0;
    for (;;) {
      const result = await client.query(api.messages.page, {
        channel,
        paginationOpts: { numItems: 10, cursor },
      });
      pages += 1;
      assert.ok(pages <= 10, "pagination did not finish after 10 pages");

      assert.deepStrictEqual(Object.keys(result).sort(), ["continueCursor", "isDone", "page"]);
      assert.ok(Array.isArray(result.page));
      assert.ok(result.page.length <= 10, `page of ${result.page.length} items exceeds numItems`);
      assert.equal(typeof result.isDone, "boolean");
      assert.equal(typeof result.continueCursor, "string");
      for (const message of result.page) {
        assert.equal(message.channel, channel);
      }

      collected.push(...result.page);
      if (result.isDone) break;
      cursor = result.continueCursor;
    }

    assert.deepStrictEqual(collected.map((m) => m.body), expectedBodies);
    assert.equal(new Set(collected.map((m) => m._id)).size, 25, "no message appears twice");
  });

  test("a page of a channel with no messages is empty and done", async () => {
    const result = await client.query(api.messages.page, {
      channel: unique("paging-empty"),
      paginationOpts: { numItems: 10, cursor: null },
    });
    assert.deepStrictEqual(result.page, []);
    assert.equal(result.isDone, true);
  });
});

// ---------------------------------------------------------------------------

describe("concurrency", () => {
  test(
    "8 clients incrementing one counter 25 times each lose no updates",
    { timeout: 120_000 },
    async () => {
      const name = unique("concurrent");
      const clients = Array.from({ length: 8 }, () => newClient());

      // Each client queues its own mutations; the 8 clients run in parallel.
      const results = await Promise.all(
        clients.map((c) =>
          Promise.all(Array.from({ length: 25 }, () => c.mutation(api.counter.increment, { name, by: 1n }))),
        ),
      );

      const returned = results.flat();
      assert.equal(returned.length, 200);
      for (const value of returned) {
        assert.equal(typeof value, "bigint");
      }
      // Serializable increments each observe a distinct value: exactly 1..200.
      const sorted = [...returned].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.deepStrictEqual(
        sorted,
        Array.from({ length: 200 }, (_, i) => BigInt(i + 1)),
      );

      assert.deepStrictEqual(await client.query(api.counter.get, { name }), { name, value: 200n });
    },
  );
});
