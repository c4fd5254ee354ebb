// The official Convex CLI (npm `convex` 1.48.0, `npx convex ...`) driving Ferrovex
// deployments as a self-hosted Convex backend (CONVEX_SELF_HOSTED_URL and
// CONVEX_SELF_HOSTED_ADMIN_KEY). It proves, with the real CLI as a child process:
//
//   1. `run` calls a public mutation and a public query (pretty JSON on stdout);
//   2. `run` reaches an internal function with the admin key, and a wrong key fails;
//   3. `data` lists the tables and a table's documents (pretty table and jsonl);
//   4. `env set` / `env list --include-values` / `env get` / `env remove`;
//   5. the seed's static-keys recipe
//      `npx convex run auth:getLatestJwks | npx convex env set JWKS`:
//      tokens issued before and after it verify;
//   6. `logs` streams a function execution as `[CONVEX M(path)]` lines;
//   7. `export` downloads a ZIP snapshot of A and `import` loads it into B, keeping ids;
//   8. a second `import` into a non-empty B fails, and `import --replace` succeeds.
//
// Test count: 8 (crates/cli/tests/it/convex_cli.rs expects `pass 8`).
//
// Run by crates/cli/tests/it/convex_cli.rs with:
//   CONVEX_URL, ADMIN_KEY      deployment A (the demo, on an empty data dir)
//   CONVEX_URL_B, ADMIN_KEY_B  deployment B (a second fresh demo deployment)
//   SITE_URL                   A's site origin (Better Auth sign-up and Convex JWTs)
//
// Each CLI command runs as `node <compat>/node_modules/convex/bin/main.js <args>` in a
// temporary project dir that holds only a package.json listing `convex` (the CLI requires
// it for `run`, `env`, `export` and `import`), with an environment that selects the
// self-hosted deployment and nothing else: no CONVEX_DEPLOYMENT, CONVEX_DEPLOY_KEY,
// CONVEX_DEPLOYMENT_TOKEN or CONVEX_URL*, plus CI=1 (no Sentry) and no colours. Its stdin
// is /dev/null or a given string, never left open (`env set NAME` reads stdin to EOF),
// and every command has a timeout that kills it and fails with its output.
//
// The tests share state and run in order: test 1's message is looked for by tests 3, 7
// and 8.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";

const { CONVEX_URL, ADMIN_KEY, CONVEX_URL_B, ADMIN_KEY_B, SITE_URL } = process.env;
if (!CONVEX_URL || !ADMIN_KEY || !CONVEX_URL_B || !ADMIN_KEY_B || !SITE_URL) {
  // Fail the file loudly rather than skipping: without deployments nothing is tested.
  throw new Error("CONVEX_URL, ADMIN_KEY, CONVEX_URL_B, ADMIN_KEY_B and SITE_URL must be set");
}

const api = anyApi;
const RUN_ID = randomUUID().slice(0, 8);

/** The two deployments, as the CLI selects them. */
const A = { name: "A", url: CONVEX_URL.replace(/\/+$/, ""), key: ADMIN_KEY };
const B = { name: "B", url: CONVEX_URL_B.replace(/\/+$/, ""), key: ADMIN_KEY_B };

/** The CLI's entry point, from the compat dir's node_modules. */
const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), "node_modules/convex/bin/main.js");

/** How long one CLI command may take before it is killed. */
const COMMAND_TIMEOUT_MS = 60_000;
/** How long `logs` may take to show an execution. */
const LOGS_TIMEOUT_MS = 30_000;
/** A per-test bound, so that a hang fails the test instead of the whole run. */
const TEST_TIMEOUT_MS = 240_000;

/** The message test 1 sends (on its own channel), looked for by later tests. */
const CHANNEL = `cli-${RUN_ID}`;
const BODY = `hello from the convex cli ${RUN_ID}`;
/** The id `messages:send` returned for BODY in test 1. */
let sentId;
/** The snapshot test 7 exports from A (and test 8 imports again). */
let snapshotZip;

// ---------------------------------------------------------------------------
// Helpers

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` until truthy (returned), or fails naming `what` and `describeState()`. */
async function waitFor(predicate, { what, timeout, describeState = () => "" }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}\n${describeState()}`);
    }
    await delay(50);
  }
}

/** The project dir every command runs in, and other temporary dirs, removed in `after`. */
let projectDir;
const tempDirs = new Set();
/** Every child still running, killed (with its process group) in `after` or on exit. */
const running = new Set();

async function tempDir(label) {
  const dir = await mkdtemp(join(tmpdir(), `ferrovex-convex-cli-${label}-`));
  tempDirs.add(dir);
  return dir;
}

before(async () => {
  projectDir = await tempDir("project");
  await writeFile(
    join(projectDir, "package.json"),
    JSON.stringify({ name: "cli-test", private: true, dependencies: { convex: "1.48.0" } }, null, 2),
  );
});

function killGroup(proc, signal = "SIGKILL") {
  try {
    // Detached children lead their own process group: this also reaches the CLIs a
    // `sh -c` pipeline started.
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

process.on("exit", () => {
  for (const proc of running) killGroup(proc);
});

after(async () => {
  for (const proc of running) killGroup(proc);
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/**
 * The CLI's environment for `target`: ours without anything that would select another
 * deployment, plus the self-hosted URL and admin key.
 */
function cliEnv(target, adminKey = target.key, extra = {}) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (
      name === "CONVEX_DEPLOYMENT" ||
      name === "CONVEX_DEPLOY_KEY" ||
      name === "CONVEX_DEPLOYMENT_TOKEN" ||
      name.startsWith("CONVEX_URL") ||
      name.startsWith("CONVEX_SELF_HOSTED_")
    ) {
      delete env[name];
    }
  }
  return {
    ...env,
    CONVEX_SELF_HOSTED_URL: target.url,
    CONVEX_SELF_HOSTED_ADMIN_KEY: adminKey,
    CI: "1",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
    ...extra,
  };
}

/**
 * Starts `command args` in the project dir. Returns `{proc, output, exit}`: `output` holds
 * the stdout and stderr text so far, `exit` resolves with `{code, signal}`. Stdin is
 * /dev/null, or `input` written and closed.
 */
function start(command, args, { env, input } = {}) {
  const proc = spawn(command, args, {
    cwd: projectDir,
    env,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    detached: true,
  });
  running.add(proc);
  const output = { stdout: "", stderr: "" };
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stdout.on("data", (chunk) => {
    output.stdout += chunk;
  });
  proc.stderr.on("data", (chunk) => {
    output.stderr += chunk;
  });
  const exit = new Promise((resolve, reject) => {
    proc.once("error", (err) => {
      running.delete(proc);
      reject(err);
    });
    // `close`, not `exit`: all output has been read by then.
    proc.once("close", (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    });
  });
  if (input !== undefined) {
    proc.stdin.on("error", () => {});
    proc.stdin.end(input);
  }
  return { proc, output, exit };
}

/** Runs to completion, or kills it after `timeout` ms and fails with its output. */
async function complete(label, started, timeout) {
  const { proc, output, exit } = started;
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => {
      killGroup(proc);
      reject(
        new Error(
          `\`${label}\` did not finish within ${timeout} ms and was killed\n` +
            describe({ code: null, ...output }),
        ),
      );
    }, timeout);
  });
  try {
    const { code, signal } = await Promise.race([exit, timedOut]);
    return { code, signal, stdout: output.stdout, stderr: output.stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `npx convex <args>` against `target` (default A): `{code, stdout, stderr}`.
 * Options: `input` (stdin text), `adminKey` (overrides the target's), `timeout`.
 */
async function convex(args, { target = A, adminKey, input, timeout = COMMAND_TIMEOUT_MS } = {}) {
  const started = start(process.execPath, [CLI_MAIN, ...args], {
    env: cliEnv(target, adminKey),
    input,
  });
  const result = await complete(`convex ${args.join(" ")} (on ${target.name})`, started, timeout);
  result.command = `convex ${args.join(" ")} (on ${target.name})`;
  return result;
}

/** A command's outcome, for assertion messages. */
function describe(result) {
  return (
    `${result.command ?? "command"}: exit code ${result.code}` +
    (result.signal ? ` (signal ${result.signal})` : "") +
    `\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}\n--------------`
  );
}

function assertSucceeded(result) {
  assert.equal(result.code, 0, `expected success\n${describe(result)}`);
}

function assertFailed(result) {
  assert.notEqual(result.code, 0, `expected a failure\n${describe(result)}`);
  assert.equal(result.signal ?? null, null, `expected an exit, not a signal\n${describe(result)}`);
}

/** The non-empty lines of `text`. */
function lines(text) {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) => l.length > 0);
}

/**
 * `data <table> --format jsonl` rows as text lines. The CLI prints them with its own
 * stringifier (int64 as `5n`), so they are searched as text, not parsed.
 */
async function jsonlRows(target, table) {
  const result = await convex(["data", table, "--format", "jsonl", "--limit", "1000"], { target });
  assertSucceeded(result);
  return { result, rows: lines(result.stdout) };
}

/** The `_id` in a jsonl row's text (`{ "_creationTime": ..., "_id": "...", ... }`). */
function idOfRow(row) {
  const match = row.match(/"_id": "([^"]+)"/);
  assert.ok(match, `no _id in the row ${row}`);
  return match[1];
}

/** The `_id`s of every `messages` row, sorted, and the id of the row holding BODY. */
async function messageIds(target) {
  const { result, rows } = await jsonlRows(target, "messages");
  const withBody = rows.filter((row) => row.includes(JSON.stringify(BODY)));
  assert.equal(withBody.length, 1, `exactly one row holds ${BODY} on ${target.name}\n${describe(result)}`);
  return { all: rows.map(idOfRow).sort(), body: idOfRow(withBody[0]), result };
}

/** A ConvexHttpClient for `target`, as anonymous or with `jwt`. */
function httpClient(target, jwt) {
  const client = new ConvexHttpClient(target.url, { logger: false });
  if (jwt) client.setAuth(jwt);
  return client;
}

/** Signs a new user up on A's site origin: `{user, cookie}`. */
async function signUp(label) {
  const email = `${label}-${RUN_ID}-${randomUUID().slice(0, 6)}@example.com`;
  const response = await fetch(`${SITE_URL}/api/auth/sign-up/email`, {
    method: "POST",
    // The site origin trusts itself for cookie-bearing POSTs.
    headers: { "content-type": "application/json", origin: SITE_URL },
    body: JSON.stringify({ name: "Cli User", email, password: "correct horse battery" }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `sign-up of ${email}: ${response.status} ${text}`);
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  return { user: JSON.parse(text).user, cookie };
}

/** A Convex JWT for a session cookie, from `GET /api/auth/convex/token`. */
async function convexToken(cookie) {
  const response = await fetch(`${SITE_URL}/api/auth/convex/token`, { headers: { cookie } });
  const text = await response.text();
  assert.equal(response.status, 200, `convex/token: ${response.status} ${text}`);
  const { token } = JSON.parse(text);
  assert.equal(typeof token, "string", text);
  return token;
}

/** The `kid` in a JWT's header. */
function kidOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8")).kid;
}

// ---------------------------------------------------------------------------
// Tests (in this order; they share state)

test("1. run calls a public mutation, then a public query that sees its write", { timeout: TEST_TIMEOUT_MS }, async () => {
  const send = await convex([
    "run",
    "messages:send",
    JSON.stringify({ channel: CHANNEL, author: "cli", body: BODY }),
  ]);
  assertSucceeded(send);
  // A returned string is printed as JSON: the new document's id, quoted.
  sentId = JSON.parse(send.stdout);
  assert.equal(typeof sentId, "string", describe(send));
  assert.ok(sentId.length > 0, describe(send));

  const list = await convex(["run", "messages:list", JSON.stringify({ channel: CHANNEL })]);
  assertSucceeded(list);
  // Pretty JSON (stdout is a pipe): two-space indent, one key per line.
  assert.match(list.stdout, /^\[\n {2}\{\n {4}"/, `pretty-printed JSON\n${describe(list)}`);
  const messages = JSON.parse(list.stdout);
  assert.ok(Array.isArray(messages), describe(list));
  const mine = messages.filter((m) => m.body === BODY);
  assert.equal(mine.length, 1, describe(list));
  assert.equal(mine[0]._id, sentId, describe(list));
  assert.equal(mine[0].author, "cli");
  assert.equal(mine[0].channel, CHANNEL);
  assert.equal(typeof mine[0]._creationTime, "number");
});

test("2. run calls an internal function with the admin key, and a wrong key fails", { timeout: TEST_TIMEOUT_MS }, async () => {
  const text = `fired by the cli ${RUN_ID}`;
  const fire = await convex(["run", "reminders:fire", JSON.stringify({ text })]);
  assertSucceeded(fire);
  // reminders:fire returns null, which `run` prints as nothing.
  assert.equal(fire.stdout.trim(), "", describe(fire));
  const fired = await httpClient(A).query(api.reminders.list, {});
  assert.equal(fired.filter((r) => r.text === text).length, 1, JSON.stringify(fired));

  const wrongText = `fired with a wrong key ${RUN_ID}`;
  const wrong = await convex(["run", "reminders:fire", JSON.stringify({ text: wrongText })], {
    adminKey: `${A.key}x`,
  });
  assertFailed(wrong);
  assert.match(`${wrong.stdout}\n${wrong.stderr}`, /BadAdminKey|admin key/i, describe(wrong));
  const remaining = await httpClient(A).query(api.reminders.list, {});
  assert.ok(
    !remaining.some((r) => r.text === wrongText),
    `the refused call wrote nothing: ${JSON.stringify(remaining)}`,
  );
});

test("3. data lists the tables and a table's documents", { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.ok(sentId, "test 1 sent the message");
  const tables = await convex(["data"]);
  assertSucceeded(tables);
  const names = lines(tables.stdout);
  for (const table of ["messages", "reminders"]) {
    assert.ok(names.includes(table), `${table} is listed\n${describe(tables)}`);
  }
  assert.deepEqual(names, [...names].sort(), `sorted\n${describe(tables)}`);
  assert.ok(!names.some((n) => n.startsWith("_")), `no system tables\n${describe(tables)}`);

  // The default format: a table with `_id | _creationTime | author | body | channel`.
  const pretty = await convex(["data", "messages", "--limit", "5"]);
  assertSucceeded(pretty);
  const [header, rule, ...rows] = lines(pretty.stdout);
  assert.match(header ?? "", /^_id\s+\| _creationTime\s+\| author\s+\| body\s+\| channel/, describe(pretty));
  assert.match(rule ?? "", /^-+-\|-/, describe(pretty));
  const row = rows.find((r) => r.includes(JSON.stringify(BODY)));
  assert.ok(row, `the message from test 1 is shown\n${describe(pretty)}`);
  // Values are printed as JSON: the id column holds the quoted id.
  assert.ok(row.startsWith(JSON.stringify(sentId)), `its row starts with its id ${sentId}\n${describe(pretty)}`);

  const { body: idInJsonl, result } = await messageIds(A);
  assert.equal(idInJsonl, sentId, describe(result));
  const line = lines(result.stdout).find((l) => l.includes(JSON.stringify(BODY)));
  assert.ok(line.includes(`"channel": ${JSON.stringify(CHANNEL)}`), describe(result));
  assert.ok(line.includes(`"author": "cli"`), describe(result));
});

test("4. env set, list, get and remove", { timeout: TEST_TIMEOUT_MS }, async () => {
  const set = await convex(["env", "set", "FOO", "bar"]);
  assertSucceeded(set);
  assert.match(set.stderr, /Successfully set FOO/, describe(set));

  const list = await convex(["env", "list", "--include-values"]);
  assertSucceeded(list);
  assert.ok(lines(list.stdout).includes("FOO=bar"), `FOO=bar is listed\n${describe(list)}`);

  const get = await convex(["env", "get", "FOO"]);
  assertSucceeded(get);
  assert.equal(get.stdout.trim(), "bar", describe(get));

  const remove = await convex(["env", "remove", "FOO"]);
  assertSucceeded(remove);
  assert.match(remove.stderr, /Successfully unset FOO/, describe(remove));

  const listAfter = await convex(["env", "list", "--include-values"]);
  assertSucceeded(listAfter);
  assert.ok(
    !lines(listAfter.stdout).some((l) => l.startsWith("FOO=")),
    `FOO is gone\n${describe(listAfter)}`,
  );

  // A missing variable: a message on stderr, nothing on stdout, exit code 0.
  const getAfter = await convex(["env", "get", "FOO"]);
  assertSucceeded(getAfter);
  assert.equal(getAfter.stdout.trim(), "", describe(getAfter));
  assert.match(getAfter.stderr, /not found/, describe(getAfter));
  // (The demo has no function that reads an environment variable.)
});

test("5. the static-keys recipe: run auth:getLatestJwks | env set JWKS", { timeout: TEST_TIMEOUT_MS }, async () => {
  const { user, cookie } = await signUp("jwks");
  const tokenBefore = await convexToken(cookie);

  // What the recipe pipes: Better Auth's key rows, as pretty JSON.
  const latest = await convex(["run", "auth:getLatestJwks"]);
  assertSucceeded(latest);
  const rows = JSON.parse(latest.stdout);
  assert.ok(Array.isArray(rows) && rows.length >= 1, describe(latest));
  for (const row of rows) {
    assert.equal(typeof row.id, "string", describe(latest));
    assert.equal(typeof row.publicKey, "string", describe(latest));
  }

  // The recipe itself, through a shell pipe.
  const pipeline = await complete(
    "run auth:getLatestJwks | env set JWKS",
    start(
      "sh",
      ["-c", '"$CLI_NODE" "$CLI_MAIN" run auth:getLatestJwks | "$CLI_NODE" "$CLI_MAIN" env set JWKS'],
      { env: cliEnv(A, A.key, { CLI_NODE: process.execPath, CLI_MAIN }) },
    ),
    2 * COMMAND_TIMEOUT_MS,
  );
  pipeline.command = "sh -c 'convex run auth:getLatestJwks | convex env set JWKS'";
  assertSucceeded(pipeline);
  assert.match(pipeline.stderr, /Successfully set JWKS/, describe(pipeline));

  const get = await convex(["env", "get", "JWKS"]);
  assertSucceeded(get);
  assert.ok(get.stdout.trim().length > 0, `JWKS is set\n${describe(get)}`);
  const stored = JSON.parse(get.stdout);
  assert.ok(Array.isArray(stored) && stored.length >= 1, describe(get));
  const storedIds = stored.map((row) => row.id);
  assert.deepEqual(storedIds, rows.map((row) => row.id), `the same keys as getLatestJwks\n${describe(get)}`);

  const tokenAfter = await convexToken(cookie);
  // The newest key signed the token before, and the JWKS variable holds it: both agree.
  assert.ok(storedIds.includes(kidOf(tokenBefore)), `kid ${kidOf(tokenBefore)} in ${storedIds}`);
  assert.ok(storedIds.includes(kidOf(tokenAfter)), `kid ${kidOf(tokenAfter)} in ${storedIds}`);

  for (const [when, jwt] of [["before", tokenBefore], ["after", tokenAfter]]) {
    const me = await httpClient(A, jwt).query(api.auth.getCurrentUser, {});
    assert.ok(me, `the token from ${when} the recipe verifies`);
    assert.equal(me.id, user.id, `the token from ${when}: ${JSON.stringify(me)}`);
    assert.equal(me.email, user.email, `the token from ${when}: ${JSON.stringify(me)}`);
  }
  assert.equal(await httpClient(A).query(api.auth.getCurrentUser, {}), null, "anonymous is still null");
});

test("6. logs streams function executions", { timeout: TEST_TIMEOUT_MS }, async () => {
  // --success: a Completion without log lines prints "Function executed in N ms".
  const logs = start(process.execPath, [CLI_MAIN, "logs", "--success"], { env: cliEnv(A) });
  const state = () => describe({ command: "convex logs --success", code: "(running)", ...logs.output });
  let exited = false;
  logs.exit.then(
    () => {
      exited = true;
    },
    () => {
      exited = true;
    },
  );
  try {
    await waitFor(() => exited || logs.output.stderr.includes("Watching logs"), {
      what: "`convex logs` to start watching",
      timeout: LOGS_TIMEOUT_MS,
      describeState: state,
    });
    assert.ok(!exited, `convex logs exited\n${state()}`);
    // Let its first poll (whose entries are discarded without --history) come back.
    await delay(2_000);

    const body = `logged by the cli ${RUN_ID}`;
    const send = await convex(["run", "messages:send", JSON.stringify({ channel: CHANNEL, author: "logs", body })]);
    assertSucceeded(send);
    // On a slow machine the CLI's first poll (whose entries it drops) may come back after that
    // call: send again every few seconds until a line shows.
    let resend = Date.now() + 3_000;
    const line = await waitFor(
      async () => {
        const found = lines(logs.output.stdout).find((l) => l.includes("[CONVEX M(messages:send)]"));
        if (!found && Date.now() > resend) {
          resend = Date.now() + 3_000;
          await httpClient(A).mutation(api.messages.send, { channel: CHANNEL, author: "logs", body });
        }
        return found;
      },
      { what: "a [CONVEX M(messages:send)] line", timeout: LOGS_TIMEOUT_MS, describeState: state },
    );
    assert.match(line, /Function executed in \d+ ms/, state());

    // A function's own log line, and its error.
    await assert.rejects(httpClient(A).mutation(api.demo.failAfterWrite, { channel: CHANNEL }));
    await waitFor(
      () =>
        lines(logs.output.stdout).some(
          (l) => l.includes("[CONVEX M(demo:failAfterWrite)]") && l.includes("wrote a message, now failing"),
        ),
      { what: "demo:failAfterWrite's log line", timeout: LOGS_TIMEOUT_MS, describeState: state },
    );
    assert.ok(!exited, `convex logs keeps running\n${state()}`);
  } finally {
    killGroup(logs.proc);
    await logs.exit.catch(() => {});
  }
});

test("7. export A to a ZIP and import it into an empty B", { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.ok(sentId, "test 1 sent the message");
  const zip = join(await tempDir("export"), "snap.zip");
  snapshotZip = zip;
  const exported = await convex(["export", "--path", zip]);
  assertSucceeded(exported);
  const bytes = await readFile(zip);
  assert.ok(
    bytes.subarray(0, 4).equals(Buffer.from("PK\x03\x04", "latin1")),
    `a ZIP file (first bytes ${bytes.subarray(0, 4).toString("hex")})\n${describe(exported)}`,
  );
  assert.ok(bytes.includes("messages/documents.jsonl"), `the ZIP holds messages/documents.jsonl\n${describe(exported)}`);

  const initially = await httpClient(B).query(api.messages.list, { channel: CHANNEL });
  assert.deepEqual(initially, [], "B starts without the message");

  const imported = await convex(["import", "-y", zip], { target: B });
  assertSucceeded(imported);
  assert.match(`${imported.stdout}\n${imported.stderr}`, /Added/, describe(imported));

  const onA = await messageIds(A);
  const onB = await messageIds(B);
  assert.equal(onA.body, sentId, describe(onA.result));
  assert.equal(onB.body, onA.body, `the message keeps its _id\n${describe(onB.result)}`);
  assert.deepEqual(onB.all, onA.all, `B has A's messages, ids included\n${describe(onB.result)}`);

  // The official client on B agrees, for other tables too.
  const listed = await httpClient(B).query(api.messages.list, { channel: CHANNEL });
  assert.ok(listed.some((m) => m._id === sentId && m.body === BODY), JSON.stringify(listed));
  const remindersA = (await httpClient(A).query(api.reminders.list, {})).map((r) => r._id).sort();
  const remindersB = (await httpClient(B).query(api.reminders.list, {})).map((r) => r._id).sort();
  assert.ok(remindersA.length >= 1);
  assert.deepEqual(remindersB, remindersA, "reminders came along");
});

test("8. importing into a non-empty B needs --replace", { timeout: TEST_TIMEOUT_MS }, async () => {
  const zip = snapshotZip;
  assert.ok(zip, "test 7 exported a snapshot");

  // -y so that any refusal is the server's, not a prompt's.
  const again = await convex(["import", "-y", zip], { target: B });
  assertFailed(again);
  assert.match(`${again.stdout}\n${again.stderr}`, /already exists|not empty/i, describe(again));
  const unchanged = await messageIds(B);
  assert.equal(unchanged.body, sentId, `nothing was duplicated\n${describe(unchanged.result)}`);

  const replaced = await convex(["import", "--replace", "-y", zip], { target: B });
  assertSucceeded(replaced);
  assert.match(`${replaced.stdout}\n${replaced.stderr}`, /Added/, describe(replaced));
  const onA = await messageIds(A);
  const onB = await messageIds(B);
  assert.deepEqual(onB.all, onA.all, `B holds A's messages once each\n${describe(onB.result)}`);
  assert.equal(onB.body, sentId, describe(onB.result));
});
