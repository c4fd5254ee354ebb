// Compatibility tests: the official `better-auth` client against Ferrovex's
// site origin (Better-Auth-compatible routes under /api/auth), and the
// official `convex` clients using the JWTs those routes hand out.
//
// This file starts its own server, so it needs the path of a Ferrovex binary:
//   FERROVEX_BIN=target/debug/ferrovex node --test tests/compat/auth_client.test.mjs
//
// In Node the Better Auth client keeps no cookies, so each simulated browser
// has a small cookie jar: responses' Set-Cookie headers are captured by an
// `onResponse` hook and sent back with `fetchOptions.headers.cookie`.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { createAuthClient } from "better-auth/client";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const FERROVEX_BIN = process.env.FERROVEX_BIN;
if (!FERROVEX_BIN) {
  // Fail the file loudly rather than skipping: without a binary nothing is tested.
  throw new Error(
    "FERROVEX_BIN is not set. Point it at a Ferrovex binary, e.g. " +
      "`FERROVEX_BIN=target/debug/ferrovex node --test tests/compat/auth_client.test.mjs`.",
  );
}

const api = anyApi;
const RUN_ID = randomUUID().slice(0, 8);

const AUTH_SECRET = "test-secret-0123456789abcdefghijklmnop";
/** Passed as `--trusted-origins`; the Better Auth client sends it as `Origin`. */
const TRUSTED_ORIGIN = "http://localhost:3000";
const PASSWORD = "correct horse battery";

/** Bound for anything that should happen "within a few seconds". */
const WAIT_MS = 10_000;

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned), or
 * fails after `timeout` ms naming `what` and, if given, `describeState()`.
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
async function withTimeout(promise, what, timeout = WAIT_MS) {
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

/** A fresh, mixed-case e-mail address unique to this run and `label`. */
function uniqueEmail(label) {
  return `${label}-${RUN_ID}-${randomUUID().slice(0, 6)}@Example.COM`;
}

/** Decodes one base64url JWT segment as JSON (no verification). */
function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
}

function decodeJwt(jwt) {
  assert.equal(typeof jwt, "string", `expected a JWT string, got ${JSON.stringify(jwt)}`);
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, `a JWT has three segments: ${jwt}`);
  return { header: decodeSegment(parts[0]), payload: decodeSegment(parts[1]) };
}

// ---------------------------------------------------------------------------
// Server process

/** Every spawned server process, so that `after` can kill leftovers. */
const children = new Set();
/** Every temporary data directory, removed in `after`. */
const tempDirs = new Set();

/** One running `ferrovex serve` process with its API and site origins. */
class Server {
  constructor(proc) {
    this.proc = proc;
    /** stdout lines, in order, as they arrive. */
    this.lines = [];
    this.stderr = "";
    /** API origin (Convex protocol), e.g. http://127.0.0.1:41234 */
    this.api = undefined;
    /** Site origin (auth routes), e.g. http://127.0.0.1:41235 */
    this.site = undefined;
    this.exited = false;
    this.exit = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exited = true;
        children.delete(proc);
        resolve({ code, signal });
      });
    });
    createInterface({ input: proc.stdout }).on("line", (line) => this.lines.push(line));
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      this.stderr += chunk;
    });
  }

  static async start() {
    const dir = await mkdtemp(join(tmpdir(), "ferrovex-auth-compat-"));
    tempDirs.add(dir);
    const proc = spawn(
      FERROVEX_BIN,
      [
        "serve",
        "--api-port",
        "0",
        "--site-port",
        "0",
        "--web-port",
        "0",
        "--data-dir",
        dir,
        "--auth-secret",
        AUTH_SECRET,
        "--trusted-origins",
        TRUSTED_ORIGIN,
        "--auth-rate-limit",
        "1000",
        "--auth-delete-user",
        "true",
      ],
      { env: { ...process.env, FERROVEX_LOG: "warn" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(proc);
    const server = new Server(proc);
    try {
      await server.waitUntilListening();
    } catch (err) {
      await server.stop("SIGKILL").catch(() => {});
      throw err;
    }
    return server;
  }

  async waitUntilListening() {
    const apiPattern = /^\s*api:\s+(http:\/\/\S+)/;
    const sitePattern = /^\s*site:\s+(http:\/\/\S+)/;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const apiLine = this.lines.find((l) => apiPattern.test(l));
      const siteLine = this.lines.find((l) => sitePattern.test(l));
      if (apiLine && siteLine) {
        this.api = apiLine.match(apiPattern)[1].replace(/\/+$/, "");
        this.site = siteLine.match(sitePattern)[1].replace(/\/+$/, "");
        return;
      }
      if (this.exited || Date.now() > deadline) {
        const { code, signal } = this.exited ? await this.exit : {};
        throw new Error(
          `ferrovex serve did not print its api and site URLs (exited: ${this.exited}, ` +
            `code ${code}, signal ${signal}).\nstdout:\n${this.lines.join("\n")}\n` +
            `stderr:\n${this.stderr}`,
        );
      }
      await delay(10);
    }
  }

  /** Sends `signal` and waits for the process to exit. */
  async stop(signal = "SIGINT") {
    if (!this.exited) this.proc.kill(signal);
    try {
      return await withTimeout(this.exit, `the server to exit after ${signal}`, 15_000);
    } catch (err) {
      this.proc.kill("SIGKILL");
      await this.exit;
      throw err;
    }
  }

  /** Base URL of the auth routes. */
  get authBase() {
    return `${this.site}/api/auth`;
  }
}

let server;

before(async () => {
  server = await Server.start();
});

after(async () => {
  try {
    await server?.stop("SIGINT");
  } finally {
    for (const proc of children) proc.kill("SIGKILL");
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// A simulated browser: the official Better Auth client plus a cookie jar

/** Minimal cookie jar keyed by cookie name (one site, path `/`). */
class CookieJar {
  constructor() {
    this.cookies = new Map();
    /** Every Set-Cookie line seen, newest last, for attribute checks. */
    this.setCookieLines = [];
  }

  /** Applies a response's Set-Cookie headers (Max-Age<=0 or empty value deletes). */
  capture(response) {
    for (const line of response.headers.getSetCookie()) {
      this.setCookieLines.push(line);
      const [pair, ...attributes] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const maxAge = attributes.find((a) => /^max-age=/i.test(a));
      const expired = value === "" || (maxAge !== undefined && Number(maxAge.split("=")[1]) <= 0);
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name) {
    return this.cookies.get(name);
  }

  /** The `Cookie` request header value. */
  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** The last Set-Cookie line for `name`, or undefined. */
  lastSetCookie(name) {
    return this.setCookieLines.findLast((l) => l.startsWith(`${name}=`));
  }
}

/** A Better Auth client for `server` with its own cookie jar. */
function newBrowser() {
  const jar = new CookieJar();
  const authClient = createAuthClient({
    // The client appends `/api/auth`.
    baseURL: server.site,
    // Node's fetch sends `Sec-Fetch-Mode: cors`, so the site requires an Origin.
    fetchOptions: { headers: { origin: TRUSTED_ORIGIN } },
  });
  /** Per-call fetch options: send the jar's cookies, capture Set-Cookie. */
  const fetchOptions = () => {
    const cookie = jar.header();
    return {
      headers: cookie ? { cookie } : {},
      onResponse: (context) => {
        jar.capture(context.response);
      },
    };
  };
  return {
    authClient,
    jar,
    fetchOptions,
    async signUp(email, name = "Test User", password = PASSWORD) {
      return authClient.signUp.email({ name, email, password }, fetchOptions());
    },
    async signIn(email, password = PASSWORD) {
      return authClient.signIn.email({ email, password }, fetchOptions());
    },
    async getSession() {
      return authClient.getSession({ fetchOptions: fetchOptions() });
    },
    async signOut() {
      return authClient.signOut({ fetchOptions: fetchOptions() });
    },
    /** `GET /api/auth/convex/token` through the client's `$fetch`. */
    async convexToken() {
      return authClient.$fetch("/convex/token", { method: "GET", ...fetchOptions() });
    },
    /**
     * A Convex `AuthTokenFetcher`: a fresh JWT from /convex/token with the
     * session cookie, or null when signed out (401), as Convex expects.
     */
    tokenFetcher(calls = []) {
      return async ({ forceRefreshToken }) => {
        const { data, error } = await this.convexToken();
        // Recorded when the fetch has completed (see setAuthAndWait).
        calls.push({ forceRefreshToken, ok: !error, status: error?.status });
        if (error) {
          if (error.status === 401) return null;
          throw new Error(`GET /convex/token failed: ${JSON.stringify(error)}`);
        }
        return data.token;
      };
    },
  };
}

/** A browser with a freshly signed-up (so signed-in) user. */
async function signedUpBrowser(label, name = "Test User") {
  const browser = newBrowser();
  const email = uniqueEmail(label);
  const { data, error } = await browser.signUp(email, name);
  assert.equal(error, null, `sign-up of ${email} failed: ${JSON.stringify(error)}`);
  assert.ok(browser.jar.get("better-auth.session_token"), "sign-up set the session cookie");
  return { browser, email, user: data.user, sessionToken: data.token };
}

/** Opens a ConvexClient that is closed when test `t` ends, pass or fail. */
function openConvexClient(t) {
  const client = new ConvexClient(server.api, { logger: false });
  t.after(async () => {
    await client.close();
  });
  return client;
}

/**
 * Drops the WebSocket client's auth. ConvexClient 1.48 has no `clearAuth()`
 * of its own; its public `client` (the BaseConvexClient) does, and it is
 * what ConvexReactClient.clearAuth() calls.
 */
function clearConvexAuth(client) {
  if (typeof client.clearAuth === "function") client.clearAuth();
  else client.client.clearAuth();
}

/**
 * `client.setAuth(fetchToken, onChange)` and waits for `onChange(true)`.
 *
 * When the server confirms the first token, the Convex client fires
 * onChange(true) and at once refetches a token (`forceRefreshToken: true`)
 * and, if it differs, authenticates again. `clearAuth()` does not cancel that
 * refetch, so a clearAuth() racing it would be undone by the client itself.
 * This waits for that refetch to complete too, so the client's auth is
 * settled; its Authenticate message (if any) is then already sent, ahead of
 * anything the test sends later on the same socket.
 *
 * Returns the list of onChange values and of completed token fetches.
 */
async function setAuthAndWait(client, browser) {
  const changes = [];
  const calls = [];
  client.setAuth(browser.tokenFetcher(calls), (isAuthenticated) => changes.push(isAuthenticated));
  const describeState = () =>
    `onChange calls ${JSON.stringify(changes)}, token fetches ${JSON.stringify(calls)}`;
  await waitFor(() => changes.includes(true), { what: "setAuth's onChange(true)", describeState });
  await waitFor(() => calls.some((c) => c.forceRefreshToken === true), {
    what: "the Convex client's token refetch after confirmation",
    describeState,
  });
  assert.deepStrictEqual(changes, [true], describeState());
  assert.ok(calls.every((c) => c.ok), describeState());
  return { changes, calls };
}

/** Expected `auth:getCurrentUser` result for a Better Auth user. */
function expectedCurrentUser(user) {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    emailVerified: user.emailVerified,
    // Convex's tokenIdentifier is `${iss}|${sub}`; iss is the site URL.
    tokenIdentifier: `${server.site}|${user.id}`,
  };
}

// ---------------------------------------------------------------------------

describe("the official Better Auth client against the site origin", () => {
  test("sign-up, sign-in, get-session, convex token and sign-out", async () => {
    const browser = newBrowser();
    const email = uniqueEmail("Flow");

    // Sign up: the user comes back with the e-mail lower-cased.
    const signUp = await browser.signUp(email, "Flow User");
    assert.equal(signUp.error, null, `sign-up error: ${JSON.stringify(signUp.error)}`);
    const user = signUp.data.user;
    assert.equal(user.email, email.toLowerCase());
    assert.equal(user.name, "Flow User");
    assert.equal(user.emailVerified, false);
    assert.equal(typeof user.id, "string");
    assert.ok(user.id.length > 0);
    assert.equal(typeof signUp.data.token, "string");
    const sessionCookie = browser.jar.lastSetCookie("better-auth.session_token");
    assert.ok(sessionCookie, `no session cookie in ${JSON.stringify(browser.jar.setCookieLines)}`);
    for (const attribute of ["Max-Age=604800", "Path=/", "HttpOnly", "SameSite=Lax"]) {
      assert.ok(
        sessionCookie.split(";").map((s) => s.trim()).some((a) => a.toLowerCase() === attribute.toLowerCase()),
        `session cookie lacks ${attribute}: ${sessionCookie}`,
      );
    }
    // The signed cookie value is `<token>.<signature>`.
    assert.ok(
      decodeURIComponent(browser.jar.get("better-auth.session_token")).startsWith(
        `${signUp.data.token}.`,
      ),
      `session cookie ${browser.jar.get("better-auth.session_token")} does not carry token ${signUp.data.token}`,
    );
    assert.ok(browser.jar.get("better-auth.convex_jwt"), "sign-up set the convex_jwt cookie");
    decodeJwt(browser.jar.get("better-auth.convex_jwt"));

    // A fresh browser signs in with the same (differently cased) e-mail.
    const other = newBrowser();
    const signIn = await other.signIn(email.toUpperCase());
    assert.equal(signIn.error, null, `sign-in error: ${JSON.stringify(signIn.error)}`);
    assert.equal(signIn.data.redirect, false);
    assert.equal(typeof signIn.data.token, "string");
    assert.notEqual(signIn.data.token, signUp.data.token, "sign-in starts a new session");
    assert.equal(signIn.data.user.id, user.id);
    assert.equal(signIn.data.user.email, email.toLowerCase());
    assert.ok(other.jar.get("better-auth.session_token"), "sign-in set the session cookie");
    assert.ok(other.jar.get("better-auth.convex_jwt"), "sign-in set the convex_jwt cookie");

    // get-session returns the session and user.
    const session = await other.getSession();
    assert.equal(session.error, null, `get-session error: ${JSON.stringify(session.error)}`);
    assert.ok(session.data, "get-session returned a session");
    assert.equal(session.data.user.id, user.id);
    assert.equal(session.data.user.email, email.toLowerCase());
    assert.equal(session.data.session.userId, user.id);
    assert.equal(session.data.session.token, signIn.data.token);
    assert.ok(
      Date.parse(session.data.session.expiresAt) > Date.now(),
      `session expiresAt ${session.data.session.expiresAt} is in the future`,
    );

    // A Convex token through the client's $fetch.
    const token = await other.convexToken();
    assert.equal(token.error, null, `convex/token error: ${JSON.stringify(token.error)}`);
    const { payload } = decodeJwt(token.data.token);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sessionId, session.data.session.id);
    assert.equal(payload.email, email.toLowerCase());

    // Sign out: the session cookie is expired, the session is gone.
    const cookieBeforeSignOut = other.jar.header();
    const signOut = await other.signOut();
    assert.equal(signOut.error, null, `sign-out error: ${JSON.stringify(signOut.error)}`);
    assert.deepStrictEqual(signOut.data, { success: true });
    const expired = other.jar.lastSetCookie("better-auth.session_token");
    assert.match(expired ?? "", /^better-auth\.session_token=;/i, `sign-out cookie: ${expired}`);
    assert.match(expired, /max-age=0/i);
    assert.equal(other.jar.get("better-auth.session_token"), undefined);

    const afterSignOut = await other.getSession();
    assert.equal(afterSignOut.error, null);
    assert.equal(afterSignOut.data, null);

    // Even replaying the old cookie: no session, and no Convex token.
    const replayed = await other.authClient.getSession({
      fetchOptions: { headers: { cookie: cookieBeforeSignOut } },
    });
    assert.equal(replayed.data, null, "the signed-out session cookie no longer works");
    const tokenAfter = await other.authClient.$fetch("/convex/token", {
      method: "GET",
      headers: { cookie: cookieBeforeSignOut },
    });
    assert.equal(tokenAfter.data, null);
    assert.equal(tokenAfter.error?.status, 401, `convex/token: ${JSON.stringify(tokenAfter.error)}`);
    assert.equal(tokenAfter.error.code, "UNAUTHORIZED");

    // The first browser's session (from sign-up) is unaffected.
    const first = await browser.getSession();
    assert.equal(first.data?.user.id, user.id, "the sign-up session is still valid");
  });

  test("Authorization: Bearer <session token> works instead of the cookie", async () => {
    const { browser, user, sessionToken } = await signedUpBrowser("Bearer");
    const bare = newBrowser();
    const session = await bare.authClient.getSession({
      fetchOptions: { headers: { authorization: `Bearer ${sessionToken}` } },
    });
    assert.equal(session.error, null, `get-session error: ${JSON.stringify(session.error)}`);
    assert.equal(session.data?.user.id, user.id);

    const token = await bare.authClient.$fetch("/convex/token", {
      method: "GET",
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    assert.equal(token.error, null, `convex/token error: ${JSON.stringify(token.error)}`);
    assert.equal(decodeJwt(token.data.token).payload.sub, user.id);

    const anonymous = await bare.convexToken();
    assert.equal(anonymous.error?.status, 401);
    assert.equal(anonymous.error.code, "UNAUTHORIZED");
    await browser.signOut();
  });
});

describe("session management through the client", () => {
  test("listSessions, revokeSession, revokeOtherSessions and revokeSessions", async () => {
    const { browser, email, user, sessionToken } = await signedUpBrowser("Revoke");
    const second = newBrowser();
    const secondIn = await second.signIn(email);
    assert.equal(secondIn.error, null, JSON.stringify(secondIn.error));
    const third = newBrowser();
    assert.equal((await third.signIn(email)).error, null);

    const listed = await browser.authClient.listSessions({ fetchOptions: browser.fetchOptions() });
    assert.equal(listed.error, null, `list-sessions error: ${JSON.stringify(listed.error)}`);
    assert.equal(listed.data.length, 3, JSON.stringify(listed.data));
    for (const s of listed.data) {
      assert.equal(s.userId, user.id);
      assert.equal(typeof s.token, "string");
      assert.ok(Date.parse(s.expiresAt) > Date.now());
    }
    assert.ok(listed.data.some((s) => s.token === secondIn.data.token));

    // Revoke one session by its token: only that browser is signed out.
    const one = await browser.authClient.revokeSession({
      token: secondIn.data.token,
      fetchOptions: browser.fetchOptions(),
    });
    assert.equal(one.error, null, `revoke-session error: ${JSON.stringify(one.error)}`);
    assert.deepStrictEqual(one.data, { status: true });
    assert.equal((await second.getSession()).data, null, "the revoked session is gone");
    assert.ok((await third.getSession()).data, "the other sessions stay");

    // Another user's token is ignored, as in Better Auth.
    const stranger = await signedUpBrowser("Stranger");
    const ignored = await stranger.browser.authClient.revokeSession({
      token: sessionToken,
      fetchOptions: stranger.browser.fetchOptions(),
    });
    assert.deepStrictEqual(ignored.data, { status: true });
    assert.ok((await browser.getSession()).data, "a stranger cannot revoke my session");

    // Revoke the others: the caller stays signed in.
    const others = await browser.authClient.revokeOtherSessions({
      fetchOptions: browser.fetchOptions(),
    });
    assert.deepStrictEqual(others.data, { status: true }, JSON.stringify(others.error));
    assert.equal((await third.getSession()).data, null);
    assert.equal((await browser.getSession()).data?.user.id, user.id);

    // Revoke all: the caller is signed out too.
    const all = await browser.authClient.revokeSessions({ fetchOptions: browser.fetchOptions() });
    assert.deepStrictEqual(all.data, { status: true }, JSON.stringify(all.error));
    assert.equal((await browser.getSession()).data, null);
    const after = await browser.authClient.listSessions({ fetchOptions: browser.fetchOptions() });
    assert.equal(after.error?.status, 401);
    await stranger.browser.signOut();
  });
});

describe("account changes through the client", () => {
  test("updateUser renames (tokens follow), and changePassword checks, rotates and revokes", async () => {
    const { browser, email } = await signedUpBrowser("Change", "Before Rename");
    const renamed = await browser.authClient.updateUser({ name: "After Rename", fetchOptions: browser.fetchOptions() });
    assert.deepStrictEqual(renamed.data, { status: true }, JSON.stringify(renamed.error));
    assert.equal((await browser.getSession()).data?.user.name, "After Rename");
    const token = await browser.convexToken();
    assert.equal(decodeJwt(token.data.token).payload.name, "After Rename", "new tokens carry the new name");
    const email2 = await browser.authClient.updateUser({ email: "other@example.com", fetchOptions: browser.fetchOptions() });
    assert.equal(email2.error?.status, 400);
    assert.equal(email2.error.code, "EMAIL_CAN_NOT_BE_UPDATED");
    // Fields Better Auth does not know of are ignored, so this changes nothing: 400.
    const nothing = await browser.authClient.updateUser({ nickname: "x", fetchOptions: browser.fetchOptions() });
    assert.equal(nothing.error?.status, 400);

    const wrong = await browser.authClient.changePassword({
      currentPassword: "not my password",
      newPassword: "a brand new password",
      fetchOptions: browser.fetchOptions(),
    });
    assert.equal(wrong.error?.status, 400);
    assert.equal(wrong.error.code, "INVALID_PASSWORD");
    const short = await browser.authClient.changePassword({
      currentPassword: PASSWORD,
      newPassword: "short",
      fetchOptions: browser.fetchOptions(),
    });
    assert.equal(short.error?.code, "PASSWORD_TOO_SHORT");

    const other = newBrowser();
    assert.equal((await other.signIn(email)).error, null);
    const oldCookie = browser.jar.header();
    const changed = await browser.authClient.changePassword({
      currentPassword: PASSWORD,
      newPassword: "a brand new password",
      revokeOtherSessions: true,
      fetchOptions: browser.fetchOptions(),
    });
    assert.equal(changed.error, null, JSON.stringify(changed.error));
    assert.equal(typeof changed.data.token, "string", "a new session");
    assert.equal(changed.data.user.email, email.toLowerCase());
    assert.notEqual(browser.jar.header(), oldCookie, "the new session's cookie is set");
    assert.equal((await browser.getSession()).data?.session.token, changed.data.token);
    assert.equal((await other.getSession()).data, null, "other sessions are revoked");
    const replay = await browser.authClient.getSession({ fetchOptions: { headers: { cookie: oldCookie } } });
    assert.equal(replay.data, null, "and so is the old one");
    assert.equal((await newBrowser().signIn(email)).error?.status, 401, "the old password no longer works");
    assert.equal((await newBrowser().signIn(email, "a brand new password")).error, null);
    await browser.signOut();
  });
});

describe("account deletion through the client", () => {
  test("deleteUser checks the password, then removes the user and every session", async () => {
    const { browser, email } = await signedUpBrowser("Delete");
    const other = newBrowser();
    assert.equal((await other.signIn(email)).error, null);
    const wrong = await browser.authClient.deleteUser({ password: "not my password", fetchOptions: browser.fetchOptions() });
    assert.equal(wrong.error?.status, 400);
    assert.equal(wrong.error.code, "INVALID_PASSWORD");
    assert.ok((await browser.getSession()).data, "still there after a wrong password");
    const deleted = await browser.authClient.deleteUser({ password: PASSWORD, fetchOptions: browser.fetchOptions() });
    assert.equal(deleted.error, null, JSON.stringify(deleted.error));
    assert.deepStrictEqual(deleted.data, { success: true, message: "User deleted" });
    assert.equal(browser.jar.get("better-auth.session_token"), undefined, "the session cookie is expired");
    assert.equal((await other.getSession()).data, null, "every session is gone");
    assert.equal((await newBrowser().signIn(email)).error?.status, 401, "and so is the user");
    const again = await newBrowser().signUp(email, "Back Again");
    assert.equal(again.error, null, "the email can be used again");
  });
});

describe("auth errors through the client", () => {
  test("a duplicate sign-up is 422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", async () => {
    const { email } = await signedUpBrowser("Dup");
    const again = newBrowser();
    // Same address, different case: still the same user.
    const { data, error } = await again.signUp(email.toLowerCase());
    assert.equal(data, null);
    assert.ok(error, "a duplicate sign-up fails");
    assert.equal(error.status, 422, JSON.stringify(error));
    assert.equal(error.code, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert.equal(typeof error.message, "string");
    assert.equal(again.jar.get("better-auth.session_token"), undefined, "no session cookie");
  });

  test("a wrong password is 401 INVALID_EMAIL_OR_PASSWORD", async () => {
    const { email } = await signedUpBrowser("WrongPw");
    const browser = newBrowser();
    const { data, error } = await browser.signIn(email, "not the password");
    assert.equal(data, null);
    assert.ok(error, "sign-in with a wrong password fails");
    assert.equal(error.status, 401, JSON.stringify(error));
    assert.equal(error.code, "INVALID_EMAIL_OR_PASSWORD");
    assert.equal(browser.jar.get("better-auth.session_token"), undefined, "no session cookie");

    // An unknown e-mail gets the same answer.
    const unknown = await browser.signIn(uniqueEmail("Nobody"));
    assert.equal(unknown.error?.status, 401, JSON.stringify(unknown.error));
    assert.equal(unknown.error.code, "INVALID_EMAIL_OR_PASSWORD");
  });

  test("a cookie-bearing POST /sign-out from an untrusted origin is 403 INVALID_ORIGIN", async () => {
    const { browser, user } = await signedUpBrowser("Csrf");
    const cookie = browser.jar.header();

    const evil = await fetch(`${server.authBase}/sign-out`, {
      method: "POST",
      headers: { cookie, origin: "https://evil.example", "content-type": "application/json" },
      body: "{}",
    });
    const evilBody = await evil.text();
    assert.equal(evil.status, 403, `untrusted origin: ${evil.status} ${evilBody}`);
    assert.equal(JSON.parse(evilBody).code, "INVALID_ORIGIN", evilBody);

    const noOrigin = await fetch(`${server.authBase}/sign-out`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: "{}",
    });
    const noOriginBody = await noOrigin.text();
    assert.equal(noOrigin.status, 403, `missing origin: ${noOrigin.status} ${noOriginBody}`);
    assert.equal(JSON.parse(noOriginBody).code, "MISSING_OR_NULL_ORIGIN", noOriginBody);

    // Neither request signed the user out.
    const session = await browser.getSession();
    assert.equal(session.data?.user.id, user.id, "the session survives rejected sign-outs");

    // The trusted origin (sent by the client) is accepted.
    const ok = await browser.signOut();
    assert.deepStrictEqual(ok.data, { success: true }, JSON.stringify(ok.error));
  });
});

describe("Convex functions with Better Auth JWTs", () => {
  test("end to end: sign in, setAuth over WebSocket, teams, and HTTP", async (t) => {
    const { email } = await signedUpBrowser("E2e", "E2E User");
    const browser = newBrowser();
    const signIn = await browser.signIn(email);
    assert.equal(signIn.error, null, `sign-in error: ${JSON.stringify(signIn.error)}`);
    const user = signIn.data.user;

    const token = await browser.convexToken();
    assert.equal(token.error, null, `convex/token error: ${JSON.stringify(token.error)}`);
    const jwt = token.data.token;

    const client = openConvexClient(t);
    await setAuthAndWait(client, browser);

    const me = await withTimeout(
      client.query(api.auth.getCurrentUser, {}),
      "auth:getCurrentUser over WebSocket",
    );
    assert.deepStrictEqual(me, expectedCurrentUser(user));
    assert.equal(me.email, email.toLowerCase());

    const teamName = `Team ${RUN_ID}`;
    const teamId = await withTimeout(
      client.mutation(api.teams.create, { name: teamName }),
      "teams:create over WebSocket",
    );
    assert.equal(typeof teamId, "string");
    const teams = await withTimeout(
      client.query(api.teams.listMyTeams, {}),
      "teams:listMyTeams over WebSocket",
    );
    assert.equal(teams.length, 1, JSON.stringify(teams));
    assert.equal(teams[0]._id, teamId);
    assert.equal(teams[0].name, teamName);

    // Another user sees none of them.
    const stranger = await signedUpBrowser("Stranger");
    const strangerClient = openConvexClient(t);
    await setAuthAndWait(strangerClient, stranger.browser);
    assert.deepStrictEqual(
      await withTimeout(strangerClient.query(api.teams.listMyTeams, {}), "stranger's teams"),
      [],
    );

    // Over HTTP with the JWT from /convex/token.
    const http = new ConvexHttpClient(server.api, { logger: false });
    assert.equal(await http.query(api.auth.getCurrentUser, {}), null, "anonymous over HTTP");
    http.setAuth(jwt);
    assert.deepStrictEqual(await http.query(api.auth.getCurrentUser, {}), expectedCurrentUser(user));
    const httpTeams = await http.query(api.teams.listMyTeams, {});
    assert.deepStrictEqual(
      httpTeams.map((team) => [team._id, team.name]),
      [[teamId, teamName]],
    );
  });

  test("after sign-out and clearAuth the WebSocket client is anonymous again", async (t) => {
    const { browser, user } = await signedUpBrowser("SignOut");
    const client = openConvexClient(t);
    await setAuthAndWait(client, browser);
    assert.deepStrictEqual(
      await withTimeout(client.query(api.auth.getCurrentUser, {}), "current user"),
      expectedCurrentUser(user),
    );
    await withTimeout(client.mutation(api.teams.create, { name: "Before sign-out" }), "teams:create");

    const signOut = await browser.signOut();
    assert.deepStrictEqual(signOut.data, { success: true }, JSON.stringify(signOut.error));
    clearConvexAuth(client);

    await assert.rejects(
      withTimeout(client.query(api.teams.listMyTeams, {}), "the rejected teams:listMyTeams"),
      (err) => {
        assert.ok(
          err instanceof ConvexError,
          `expected a ConvexError, got ${err?.name}: ${err?.message}`,
        );
        assert.deepStrictEqual(err.data, { code: "UNAUTHENTICATED" });
        return true;
      },
    );
    await assert.rejects(
      withTimeout(client.mutation(api.teams.create, { name: "After" }), "the rejected teams:create"),
      (err) => err instanceof ConvexError && err.data?.code === "UNAUTHENTICATED",
    );
    assert.equal(
      await withTimeout(client.query(api.auth.getCurrentUser, {}), "current user after clearAuth"),
      null,
    );

    // The token route agrees: no session, no token.
    const token = await browser.convexToken();
    assert.equal(token.error?.status, 401, JSON.stringify(token));
    assert.equal(token.error.code, "UNAUTHORIZED");
  });

  test("a live auth:getCurrentUser subscription follows setAuth and clearAuth", async (t) => {
    const { browser, user } = await signedUpBrowser("Live");
    const client = openConvexClient(t);
    const values = [];
    const errors = [];
    const unsubscribe = client.onUpdate(
      api.auth.getCurrentUser,
      {},
      (value) => values.push(value),
      (err) => errors.push(err),
    );
    t.after(() => unsubscribe());
    const describeState = () =>
      `values ${JSON.stringify(values)}, errors ${JSON.stringify(errors.map((e) => e.message))}`;

    await waitFor(() => values.length >= 1, { what: "the anonymous result", describeState });
    assert.equal(values[0], null, "anonymous first");

    await setAuthAndWait(client, browser);
    await waitFor(() => values.at(-1)?.id === user.id, {
      what: "the subscription to show the user",
      describeState,
    });
    assert.deepStrictEqual(values.at(-1), expectedCurrentUser(user));

    clearConvexAuth(client);
    await waitFor(() => values.length >= 3 && values.at(-1) === null, {
      what: "the subscription to go back to null",
      describeState,
    });
    // null -> user -> null, with no other identity in between.
    const collapsed = values.filter((v, i) => i === 0 || JSON.stringify(v) !== JSON.stringify(values[i - 1]));
    assert.deepStrictEqual(collapsed, [null, expectedCurrentUser(user), null]);
    assert.deepStrictEqual(errors, []);
    await browser.signOut();
  });

  test("the Convex JWT's header and claims, and its key in /convex/jwks", async () => {
    const { browser, user, email } = await signedUpBrowser("Jwt", "Jwt User");
    const session = await browser.getSession();
    assert.ok(session.data, "signed in");

    const token = await browser.convexToken();
    assert.equal(token.error, null, `convex/token error: ${JSON.stringify(token.error)}`);
    const { header, payload } = decodeJwt(token.data.token);

    assert.equal(header.alg, "RS256");
    assert.equal(header.typ, "JWT");
    assert.equal(typeof header.kid, "string");

    const jwksResponse = await fetch(`${server.authBase}/convex/jwks`);
    assert.equal(jwksResponse.status, 200);
    const jwks = await jwksResponse.json();
    assert.ok(Array.isArray(jwks.keys) && jwks.keys.length >= 1, JSON.stringify(jwks));
    const key = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(key, `kid ${header.kid} is not in ${JSON.stringify(jwks.keys.map((k) => k.kid))}`);
    assert.equal(key.alg, "RS256");
    assert.equal(key.kty, "RSA");
    assert.equal(typeof key.n, "string");
    assert.equal(typeof key.e, "string");
    assert.ok(!("d" in key), "the JWKS must not publish the private exponent");

    assert.equal(payload.iss, server.site);
    assert.equal(payload.aud, "convex");
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sessionId, session.data.session.id);
    assert.equal(payload.name, "Jwt User");
    assert.equal(payload.email, email.toLowerCase());
    assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), JSON.stringify(payload));
    assert.equal(payload.exp - payload.iat, 900);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(payload.iat - now) <= 60, `iat ${payload.iat} is not near now (${now})`);

    // The convex_jwt cookie set at sign-up has the same shape.
    const cookieJwt = decodeJwt(browser.jar.get("better-auth.convex_jwt"));
    assert.equal(cookieJwt.header.kid, header.kid);
    assert.equal(cookieJwt.payload.sub, user.id);
    assert.equal(cookieJwt.payload.aud, "convex");
    await browser.signOut();
  });
});
