// Admin auth with the official clients: ConvexHttpClient.setAdminAuth and
// ConvexClient.setAdminAuth, calling internal functions and acting as a user.
// Run by crates/cli/tests/it/admin.rs with CONVEX_URL and ADMIN_KEY.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";

const URL = process.env.CONVEX_URL;
const KEY = process.env.ADMIN_KEY;
if (!URL || !KEY) throw new Error("CONVEX_URL and ADMIN_KEY must be set");
const api = anyApi;

test("an internal function is refused without the key and runs with it", async () => {
  const text = `admin-${randomUUID().slice(0, 8)}`;
  const anonymous = new ConvexHttpClient(URL, { logger: false });
  await assert.rejects(anonymous.mutation(api.reminders.fire, { text }), /Could not find public function/);
  const admin = new ConvexHttpClient(URL, { logger: false });
  admin.setAdminAuth(KEY);
  await admin.mutation(api.reminders.fire, { text });
  const fired = await admin.query(api.reminders.list, {});
  assert.ok(fired.some((r) => r.text === text), JSON.stringify(fired));
});

test("a wrong key is refused with BadAdminKey", async () => {
  const wrong = new ConvexHttpClient(URL, { logger: false });
  wrong.setAdminAuth(`${KEY}x`);
  await assert.rejects(wrong.query(api.messages.list, {}), /BadAdminKey/);
});

test("over HTTP an admin acts as the user it names", async () => {
  const admin = new ConvexHttpClient(URL, { logger: false });
  admin.setAdminAuth(KEY, { subject: "acting-http", issuer: "https://issuer.test", name: "Acting Admin" });
  const me = await admin.query(api.auth.getCurrentUser, {});
  assert.equal(me.id, "acting-http");
  assert.equal(me.name, "Acting Admin");
  assert.equal(me.tokenIdentifier, "https://issuer.test|acting-http");
});

test("over the sync socket an admin acting as a user sees that identity and may call internal functions", async () => {
  const client = new ConvexClient(URL, { logger: false });
  try {
    client.setAdminAuth(KEY, { subject: "acting-ws", issuer: "https://issuer.test", name: "Socket Admin" });
    const me = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no identity within 10 s")), 10_000);
      const stop = client.onUpdate(api.auth.getCurrentUser, {}, (user) => {
        if (user) {
          clearTimeout(timer);
          stop();
          resolve(user);
        }
      });
    });
    assert.equal(me.id, "acting-ws");
    assert.equal(me.name, "Socket Admin");
    const text = `ws-admin-${randomUUID().slice(0, 8)}`;
    await client.mutation(api.reminders.fire, { text });
    const fired = await client.query(api.reminders.list, {});
    assert.ok(fired.some((r) => r.text === text));
  } finally {
    await client.close();
  }
});
