// The Better Auth peer: Better Auth 1.6.34 with the @convex-dev/better-auth 0.12.5 convex plugin,
// email + password, RS256 Convex JWTs, on a SQLite file in WAL mode. Ferrovex measures its own
// auth routes beside this server and checks that keys move between the two.
//
// Environment:
//   PORT                listen port on 127.0.0.1 (0 = any; the chosen URL is printed)
//   MODE                dynamic (keys in the jwks table, the default) | static (JWKS variable)
//   JWKS                static mode: Better Auth's getLatestJwks JSON; without it, one is made
//   BETTER_AUTH_SECRET  the secret (a fixed test value when unset)
//   DB_FILE             SQLite file (default: a fresh temporary file)
//
// Prints `peer: http://127.0.0.1:PORT` when ready and `jwks: <json>` (the latest JWKS, as
// getLatestJwks returns it) so a caller can feed it to Ferrovex.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";
import { convex } from "@convex-dev/better-auth/plugins";
import { getAuthConfigProvider } from "@convex-dev/better-auth/auth-config";

const mode = process.env.MODE ?? "dynamic";
if (mode !== "dynamic" && mode !== "static") throw new Error(`MODE must be dynamic or static, not ${mode}`);
const secret = process.env.BETTER_AUTH_SECRET ?? "peer-test-secret-0123456789abcdefghijklmnop";

// Listen first: the port is part of the issuer URL.
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;
process.env.CONVEX_SITE_URL = baseURL;

const dbFile = process.env.DB_FILE ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ba-peer-")), "auth.sqlite");
const db = new Database(dbFile);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");

// Outside Convex the convex plugin skips writes unless the adapter can run mutations, as it can
// inside a Convex HTTP action; say so.
const mutationCtxPlugin = {
  id: "peer-mutation-ctx",
  init(ctx) {
    ctx.adapter.options = { ...(ctx.adapter.options ?? {}), isRunMutationCtx: true };
  },
};

function makeAuth(jwks) {
  return betterAuth({
    baseURL,
    basePath: "/api/auth",
    secret,
    database: db,
    emailAndPassword: { enabled: true },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    logger: { level: "error" },
    plugins: [
      mutationCtxPlugin,
      convex({ authConfig: { providers: [getAuthConfigProvider({ jwks })] }, jwks }),
    ],
  });
}

let auth = makeAuth(undefined);
await (await getMigrations(auth.options)).runMigrations();
let latest = process.env.JWKS;
if (!latest) {
  latest = JSON.stringify(await auth.api.getLatestJwks());
}
if (mode === "static") {
  auth = makeAuth(latest);
}

const handler = toNodeHandler(auth);
server.on("request", (req, res) => handler(req, res));
console.log(`peer: ${baseURL}`);
console.log(`jwks: ${latest}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
