import { createAuthClient } from "better-auth/client";
import { ConvexClient } from "convex/browser";
const out = (k, v) => { window.__out = window.__out || {}; window.__out[k] = v; };
(async () => {
  try {
    const live = new ConvexClient("http://127.0.0.1:4310");
    const auth = createAuthClient({ baseURL: "http://127.0.0.1:4311", fetchOptions: { credentials: "include" } });
    const r = await auth.signUp.email({ name: "Ada", email: `ada${Date.now()}@example.com`, password: "correct horse" });
    out("signUp", r.error ? r.error : { ok: true, email: r.data.user.email });
    live.setAuth(async () => (await fetch("http://127.0.0.1:4311/api/auth/convex/token",
      { credentials: "include" }).then((r) => r.json())).token, (isAuth) => out("authenticated", isAuth));
    const me = await new Promise((res) => { const u = live.onUpdate("auth:getCurrentUser", {}, (v) => { if (v) { res(v); } }); setTimeout(() => res("timeout/null"), 5000); });
    out("me", me);
    await live.close();
  } catch (e) { out("error", String(e)); }
  out("done", true);
})();
