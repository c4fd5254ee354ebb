import { ConvexClient } from "convex/browser";
const live = new ConvexClient("http://127.0.0.1:4310");
// --- README "In Node" snippet, verbatim except the port (3211 -> 4311) and a unique email
import { createAuthClient } from "better-auth/client";
let cookie = "";
const keep = { onResponse: ({ response }) => {
  const set = response.headers.getSetCookie().map((c) => c.split(";")[0]);
  if (set.length) cookie = set.join("; ");
} };
const auth = createAuthClient({
  baseURL: "http://127.0.0.1:4311",
  fetchOptions: { headers: { origin: "http://127.0.0.1:4311" } },
});
const su = await auth.signUp.email({ name: "Ada", email: `ada${Date.now()}@example.com`, password: "correct horse" }, keep);
const { data } = await auth.$fetch("/convex/token", { headers: { cookie } });
live.setAuth(async () => data.token, (a) => console.log("authenticated?", a));
// --- end snippet
console.log("signUp error:", su.error ?? null);
const me = await live.query("auth:getCurrentUser", {});
console.log("me:", JSON.stringify(me));
await live.close();
