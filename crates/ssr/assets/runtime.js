// Ferrovex browser runtime: hydrates server-rendered queries from the page payload, keeps them
// live over the Convex sync protocol with shared, reference-counted subscriptions, runs
// mutations and actions, and fetches auth tokens through the web origin. No build step.
(function () {
  "use strict";

  // ---------------------------------------------------------------- Convex JSON
  function b64ToBytes(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function bytesToB64(bytes) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  function u64(s) {
    const b = b64ToBytes(s);
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }
  // Convex JSON -> JS values (int64 -> BigInt, bytes -> ArrayBuffer).
  function decode(v) {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "$integer") {
        const x = u64(v.$integer);
        return x >= 1n << 63n ? x - (1n << 64n) : x;
      }
      if (keys.length === 1 && keys[0] === "$float") return new DataView(b64ToBytes(v.$float).buffer).getFloat64(0, true);
      if (keys.length === 1 && keys[0] === "$bytes") return b64ToBytes(v.$bytes).buffer;
      const out = {};
      for (const k of keys) out[k] = decode(v[k]);
      return out;
    }
    return v;
  }
  // JS values -> Convex JSON (keys sorted, so equal args give equal keys).
  function encode(v) {
    if (typeof v === "bigint") {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, v, true);
      return { $integer: bytesToB64(b) };
    }
    if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, true);
      return { $float: bytesToB64(b) };
    }
    if (v instanceof ArrayBuffer) return { $bytes: bytesToB64(new Uint8Array(v)) };
    if (Array.isArray(v)) return v.map(encode);
    if (v && typeof v === "object") {
      const out = {};
      for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = encode(v[k]);
      return out;
    }
    return v === undefined ? null : v;
  }
  // JSON with object keys sorted, so equal arguments written in any key order (in scripts or
  // in the server's payload) name the same query.
  function canonical(v) {
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    if (v && typeof v === "object") {
      return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
    }
    return JSON.stringify(v);
  }
  function keyOf(path, encodedArgs) {
    return path + ":" + canonical(encodedArgs);
  }
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---------------------------------------------------------------- tokens
  // Tokens come from the web origin's /api/auth/convex/token (proxied, cookie included).
  // A forced refresh reuses a token validated in the last 10 s; "no session" is remembered
  // for 5 s; only one request is in flight at a time.
  const TOKEN_REUSE_MS = 10000;
  const NO_SESSION_MS = 5000;
  // The claims of a JWT ({} when unreadable). Only `exp`, `iat` and `sub` are used, for timing
  // and to tell a refresh from an account switch; the server verifies tokens.
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    } catch (_) {
      return {};
    }
  }
  // When a token should be replaced (ms since the epoch): half its lifetime before it expires,
  // at most 30 s before. Infinity when it carries no expiry.
  function renewAt(token) {
    const { exp, iat } = claimsOf(token);
    if (typeof exp !== "number") return Infinity;
    const lifetime = typeof iat === "number" ? exp - iat : 60;
    return (exp - Math.min(30, lifetime / 2)) * 1000;
  }
  class TokenSource {
    constructor(url) {
      this.url = url;
      this.token = null;
      this.validatedAt = 0;
      this.noSessionAt = 0;
      this.inflight = null;
      this.requests = 0;
    }
    async get(force) {
      const now = Date.now();
      if (this.token && now < renewAt(this.token) && (!force || now - this.validatedAt < TOKEN_REUSE_MS)) {
        this.validatedAt = now;
        return this.token;
      }
      if (!this.token && now - this.noSessionAt < NO_SESSION_MS) return null;
      if (this.inflight) return this.inflight;
      this.inflight = (async () => {
        this.requests++;
        try {
          const r = await fetch(this.url, { credentials: "same-origin", cache: "no-store" });
          const body = r.ok ? await r.json() : null;
          this.token = body && typeof body.token === "string" ? body.token : null;
        } catch (_) {
          this.token = null;
        }
        if (this.token) this.validatedAt = Date.now();
        else this.noSessionAt = Date.now();
        return this.token;
      })();
      try {
        return await this.inflight;
      } finally {
        this.inflight = null;
      }
    }
    forget() {
      this.token = null;
      this.validatedAt = 0;
      this.noSessionAt = 0;
    }
  }

  // ---------------------------------------------------------------- sync client
  class Sync {
    constructor(apiUrl, tokens) {
      this.apiUrl = apiUrl.replace(/\/$/, "");
      this.tokens = tokens;
      this.sessionId = uuid();
      this.connectionCount = 0;
      this.nextQueryId = 0;
      this.nextRequestId = 0;
      // key -> {id, path, args, listeners, value, error, has, server: {value, error, has}}
      // `server` is what the server said; `value`/`error` add the optimistic updates.
      this.queries = new Map();
      this.byId = new Map();
      this.pending = new Map(); // requestId -> {msg, resolve, reject, ts, kind, optimistic}
      this.stateListeners = new Set();
      this.querySetVersion = 0;
      this.identityVersion = 0;
      this.serverTs = 0n;
      this.token = null;
      this.connected = false;
      this.retries = 0;
      this.refreshes = 0;
      this.refreshTimer = null;
      this.open();
    }
    state() {
      return { connected: this.connected, reconnecting: !this.connected && this.connectionCount > 0, pendingMutations: [...this.pending.values()].filter((p) => p.kind === "Mutation").length };
    }
    emitState() {
      const s = this.state();
      for (const l of this.stateListeners) l(s);
    }
    send(msg) {
      if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
    }
    open() {
      const url = this.apiUrl.replace(/^http/, "ws") + "/api/sync";
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onopen = () => {
        this.connected = true;
        this.retries = 0;
        this.querySetVersion = 0;
        this.identityVersion = 0;
        this.send({ type: "Connect", sessionId: this.sessionId, connectionCount: this.connectionCount++, lastCloseReason: null, clientTs: Date.now() });
        if (this.token) this.send({ type: "Authenticate", baseVersion: this.identityVersion++, tokenType: "User", value: this.token });
        this.scheduleRefresh();
        const mods = [...this.queries.values()].map((q) => ({ type: "Add", queryId: q.id, udfPath: q.path, args: [q.args] }));
        if (mods.length) this.send({ type: "ModifyQuerySet", baseVersion: this.querySetVersion, newVersion: ++this.querySetVersion, modifications: mods });
        for (const p of this.pending.values()) if (p.kind === "Mutation") this.send(p.msg);
        this.emitState();
      };
      ws.onmessage = (e) => this.onMessage(JSON.parse(e.data));
      ws.onclose = () => {
        this.connected = false;
        for (const [id, p] of this.pending) {
          if (p.kind === "Action") {
            p.reject(new Error("Connection lost while action was in flight"));
            this.pending.delete(id);
          }
        }
        this.emitState();
        const delay = Math.min(16000, 100 * 2 ** this.retries++) * (0.5 + Math.random());
        setTimeout(() => this.open(), delay);
      };
    }
    onMessage(msg) {
      switch (msg.type) {
        case "Transition": {
          for (const m of msg.modifications) {
            const q = this.byId.get(m.queryId);
            if (!q) continue;
            if (m.type === "QueryUpdated") q.server = { value: decode(m.value), error: null, has: true };
            else if (m.type === "QueryFailed") q.server = { value: undefined, error: { message: m.errorMessage, data: m.errorData === undefined ? undefined : decode(m.errorData) }, has: true };
          }
          this.serverTs = u64(msg.endVersion.ts);
          // Mutations whose writes these results include are done: their optimistic updates
          // go in the same step, so the view never shows both or neither.
          const done = [];
          for (const [id, p] of this.pending) {
            if (p.kind === "Mutation" && p.ts !== undefined && p.ts <= this.serverTs) {
              this.pending.delete(id);
              done.push(p);
            }
          }
          this.publish();
          for (const p of done) p.resolve(p.result);
          this.emitState();
          break;
        }
        case "MutationResponse":
        case "ActionResponse": {
          const p = this.pending.get(msg.requestId);
          if (!p) break;
          if (!msg.success) {
            this.pending.delete(msg.requestId);
            // A failed mutation's optimistic update is rolled back at once.
            if (p.optimistic) this.publish();
            const err = new Error(msg.result);
            if (msg.errorData !== undefined) err.data = decode(msg.errorData);
            p.reject(err);
          } else if (msg.type === "ActionResponse") {
            this.pending.delete(msg.requestId);
            p.resolve(decode(msg.result));
          } else {
            p.result = decode(msg.result);
            p.ts = u64(msg.ts);
            if (p.ts <= this.serverTs) {
              this.pending.delete(msg.requestId);
              if (p.optimistic) this.publish();
              p.resolve(p.result);
            }
          }
          this.emitState();
          break;
        }
        case "AuthError":
          // Ask for a fresh token and start over on a new socket.
          this.tokens.get(true).then((t) => {
            this.token = t;
            if (this.ws) this.ws.close();
          });
          break;
        case "FatalError":
          console.error("[ferrovex] fatal:", msg.error);
          break;
        default:
          break;
      }
    }
    // Shows every query's server result with the optimistic updates of the mutations still in
    // flight applied in order, and tells the listeners of each query whose view changed.
    publish() {
      const layered = new Map();
      const store = {
        getQuery: (path, args) => {
          const key = keyOf(path, encode(args || {}));
          if (layered.has(key)) return layered.get(key);
          const q = this.queries.get(key);
          return q && q.server.has && !q.server.error ? q.server.value : undefined;
        },
        setQuery: (path, args, value) => layered.set(keyOf(path, encode(args || {})), value),
        getAllQueries: (path) => [...this.queries.values()].filter((q) => q.path === path).map((q) => ({ args: decode(q.args), value: store.getQuery(path, decode(q.args)) })),
      };
      for (const p of this.pending.values()) {
        if (!p.optimistic) continue;
        try {
          p.optimistic(store, p.args);
        } catch (e) {
          console.error("[ferrovex] optimistic update failed:", e);
        }
      }
      for (const [key, q] of this.queries) {
        const view = layered.has(key) ? { value: layered.get(key), error: null, has: true } : q.server;
        if (!view.has || (q.has && view.value === q.value && view.error === q.error)) continue;
        q.value = view.value;
        q.error = view.error;
        q.has = true;
        for (const l of [...q.listeners]) l(q.value, q.error);
      }
    }
    subscribe(path, args, listener, initial) {
      const encoded = encode(args);
      const key = keyOf(path, encoded);
      let q = this.queries.get(key);
      if (!q) {
        q = { id: this.nextQueryId++, path, args: encoded, listeners: new Set(), value: undefined, error: null, has: false, server: { value: undefined, error: null, has: false } };
        if (initial && initial.has) {
          q.value = initial.value;
          q.error = initial.error;
          q.has = true;
          q.server = { value: initial.value, error: initial.error, has: true };
        }
        this.queries.set(key, q);
        this.byId.set(q.id, q);
        this.send({ type: "ModifyQuerySet", baseVersion: this.querySetVersion, newVersion: ++this.querySetVersion, modifications: [{ type: "Add", queryId: q.id, udfPath: path, args: [encoded] }] });
      }
      q.listeners.add(listener);
      // Late joiners get the current value at once.
      if (q.has) listener(q.value, q.error);
      return () => {
        q.listeners.delete(listener);
        if (q.listeners.size === 0) {
          this.queries.delete(key);
          this.byId.delete(q.id);
          this.send({ type: "ModifyQuerySet", baseVersion: this.querySetVersion, newVersion: ++this.querySetVersion, modifications: [{ type: "Remove", queryId: q.id }] });
        }
      };
    }
    wireSubscriptions() {
      return this.queries.size;
    }
    // `optimistic(store, args)` (mutations only) changes local query results until the
    // mutation's own writes arrive from the server, or it fails.
    request(kind, path, args, optimistic) {
      return new Promise((resolve, reject) => {
        const requestId = this.nextRequestId++;
        const msg = { type: kind, requestId, udfPath: path, args: [encode(args)] };
        const opt = kind === "Mutation" && typeof optimistic === "function" ? optimistic : null;
        this.pending.set(requestId, { msg, resolve, reject, kind, args, optimistic: opt });
        if (opt) this.publish();
        this.send(msg);
        this.emitState();
      });
    }
    // Keeps the socket's token fresh: before it expires a new one is fetched and sent on the
    // same socket, so nothing is torn down and, for the same user, no result is cleared.
    scheduleRefresh() {
      clearTimeout(this.refreshTimer);
      if (!this.token) return;
      const delay = Math.max(1000, renewAt(this.token) - Date.now());
      if (delay !== Infinity) this.refreshTimer = setTimeout(() => this.refresh(), delay);
    }
    async refresh() {
      const token = await this.tokens.get(true);
      if (token === this.token) return this.scheduleRefresh();
      if (token && this.token && claimsOf(token).sub === claimsOf(this.token).sub) {
        this.token = token;
        this.refreshes++;
        this.send({ type: "Authenticate", baseVersion: this.identityVersion++, tokenType: "User", value: token });
        this.scheduleRefresh();
      } else {
        await this.setToken(token);
      }
    }
    // A new identity: tell the server at once and clear results that may belong to the old one.
    async setToken(token) {
      if (token === this.token) return;
      this.token = token;
      this.scheduleRefresh();
      for (const q of this.queries.values()) {
        q.server = { value: undefined, error: null, has: false };
        q.value = undefined;
        q.error = null;
        q.has = false;
        for (const l of [...q.listeners]) l(undefined, null);
      }
      this.send(token ? { type: "Authenticate", baseVersion: this.identityVersion++, tokenType: "User", value: token } : { type: "Authenticate", baseVersion: this.identityVersion++, tokenType: "None" });
    }
  }

  // ---------------------------------------------------------------- public API
  const payloadEl = document.getElementById("__ferrovex");
  const payload = payloadEl ? JSON.parse(payloadEl.textContent) : { apiUrl: location.origin, queries: [], user: null };
  const tokens = new TokenSource("/api/auth/convex/token");
  const hydrated = new Map();
  for (const q of payload.queries) {
    if (q.args && (q.value !== null || q.error)) {
      hydrated.set(keyOf(q.path, q.args), { has: q.value !== undefined && q.value !== null ? true : !!q.error, value: q.value === null ? null : decode(q.value), error: q.error ? { message: q.error.message, data: q.error.data === null ? undefined : decode(q.error.data) } : null });
    }
  }
  let sync = null;
  function client() {
    if (!sync) sync = new Sync(payload.apiUrl, tokens);
    return sync;
  }
  async function httpQuery(path, args) {
    const token = await tokens.get(false);
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    const r = await fetch(payload.apiUrl.replace(/\/$/, "") + "/api/query", { method: "POST", headers, body: JSON.stringify({ path, args: [encode(args)], format: "convex_encoded_json" }) });
    const body = await r.json();
    if (body.status === "success") return { value: decode(body.value), error: null };
    return { value: undefined, error: { message: body.errorMessage || body.message, data: body.errorData === undefined ? undefined : decode(body.errorData) } };
  }

  // query(path, args | "skip", {server, subscribe}, onChange) -> {setArgs, refresh, close}
  function query(path, args, options, onChange) {
    const opts = Object.assign({ server: true, subscribe: true }, options || {});
    let current = args;
    let unsubscribe = null;
    let closed = false;
    const start = () => {
      if (unsubscribe) unsubscribe();
      unsubscribe = null;
      if (current === "skip" || closed) return;
      const key = keyOf(path, encode(current));
      const initial = opts.server ? hydrated.get(key) : undefined;
      if (opts.subscribe) {
        // The server-rendered value seeds a new subscription; a live one, if any, wins.
        unsubscribe = client().subscribe(path, current, (v, e) => onChange(v, e), initial);
      } else if (initial && initial.has) {
        onChange(initial.value, initial.error);
      } else {
        httpQuery(path, current).then((r) => !closed && onChange(r.value, r.error));
      }
    };
    start();
    return {
      setArgs(next) {
        current = next;
        start();
      },
      async refresh() {
        if (current === "skip") return;
        const r = await httpQuery(path, current);
        if (!closed) onChange(r.value, r.error);
      },
      close() {
        closed = true;
        if (unsubscribe) unsubscribe();
      },
    };
  }

  // paginatedQuery(path, args | "skip", {initialNumItems}, onChange(results, status, error))
  //   -> {loadMore(numItems), setArgs, close}
  // Each loaded page is its own live subscription. Once a page has loaded and more follow,
  // it is pinned to the end cursor it returned (`paginationOpts.endCursor`), so pages never
  // overlap or leave gaps as documents come and go; the last page grows with new documents.
  // status: "LoadingFirstPage" | "CanLoadMore" | "LoadingMore" | "Exhausted".
  function paginatedQuery(path, args, options, onChange) {
    const initialNumItems = (options && options.initialNumItems) || 10;
    let current = args;
    let pages = [];
    let closed = false;
    const emit = () => {
      if (closed) return;
      const results = [];
      let error = null;
      for (const p of pages) {
        if (p.error) error = p.error;
        if (!p.result) break;
        results.push(...p.result.page);
      }
      const last = pages[pages.length - 1];
      let status;
      if (current === "skip" || !pages[0] || !pages[0].result) status = "LoadingFirstPage";
      else if (!last.result) status = "LoadingMore";
      else status = last.result.isDone ? "Exhausted" : "CanLoadMore";
      onChange(results, status, error);
    };
    const addPage = (cursor, numItems) => {
      const page = { cursor, numItems, pinned: false, result: null, error: null, handle: null };
      const argsFor = (endCursor) => {
        const paginationOpts = { numItems: page.numItems, cursor: page.cursor };
        if (endCursor) paginationOpts.endCursor = endCursor;
        return Object.assign({}, current, { paginationOpts });
      };
      pages.push(page);
      // A first page rendered on the server is shown at once and subscribed already pinned.
      const ssr = pages.length === 1 ? hydrated.get(keyOf(path, encode(argsFor(null)))) : undefined;
      if (ssr && ssr.has && !ssr.error && ssr.value) {
        page.result = ssr.value;
        page.pinned = !ssr.value.isDone;
      }
      const start = page.pinned ? argsFor(page.result.continueCursor) : argsFor(null);
      page.handle = query(path, start, { server: !page.pinned }, (value, error) => {
        if (closed || !pages.includes(page)) return;
        page.error = error || null;
        if (value) {
          page.result = value;
          if (!page.pinned && !value.isDone) {
            page.pinned = true;
            const pinned = argsFor(value.continueCursor);
            // The first value may come before query() has returned (a shared subscription).
            if (page.handle) page.handle.setArgs(pinned);
            else queueMicrotask(() => page.handle.setArgs(pinned));
          }
        }
        emit();
      });
    };
    const reset = () => {
      for (const p of pages) p.handle.close();
      pages = [];
      if (current !== "skip") addPage(null, initialNumItems);
      emit();
    };
    reset();
    return {
      loadMore(numItems) {
        const last = pages[pages.length - 1];
        if (closed || !last || !last.result || last.result.isDone) return false;
        addPage(last.result.continueCursor, numItems || initialNumItems);
        emit();
        return true;
      },
      setArgs(next) {
        current = next;
        reset();
      },
      close() {
        closed = true;
        for (const p of pages) p.handle.close();
        pages = [];
      },
    };
  }

  async function authRequest(path, body) {
    const r = await fetch("/api/auth" + path, { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body || {}) });
    const json = await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((json && json.message) || "Request failed");
      err.code = json && json.code;
      err.status = r.status;
      throw err;
    }
    // The identity changes at once: fetch the new token (or none) and tell the socket. The
    // server-rendered results belonged to the previous identity.
    hydrated.clear();
    tokens.forget();
    const token = await tokens.get(true);
    if (sync) await sync.setToken(token);
    return json;
  }

  // Connect now if the page holds a session: the socket authenticates before subscribing.
  async function boot() {
    if (payload.user) {
      const token = await tokens.get(false);
      const c = client();
      if (c.connected) await c.setToken(token);
      else c.token = token;
    }
  }
  const ready = boot();

  window.Ferrovex = {
    payload,
    ready,
    query(path, args, options, onChange) {
      const handle = { inner: null, pendingArgs: undefined };
      ready.then(() => {
        handle.inner = query(path, args, options, onChange);
      });
      return {
        setArgs: (a) => ready.then(() => handle.inner.setArgs(a)),
        refresh: () => ready.then(() => handle.inner.refresh()),
        close: () => ready.then(() => handle.inner.close()),
      };
    },
    paginatedQuery(path, args, options, onChange) {
      const inner = ready.then(() => paginatedQuery(path, args, options, onChange));
      return {
        loadMore: (n) => inner.then((q) => q.loadMore(n)),
        setArgs: (a) => inner.then((q) => q.setArgs(a)),
        close: () => inner.then((q) => q.close()),
      };
    },
    // mutation(path, args, {optimisticUpdate(store, args)}): `store` has getQuery(path, args),
    // setQuery(path, args, value) and getAllQueries(path); treat values as immutable.
    mutation: (path, args, options) => ready.then(() => client().request("Mutation", path, args, options && options.optimisticUpdate)),
    action: (path, args) => ready.then(() => client().request("Action", path, args)),
    onConnectionChange(listener) {
      ready.then(() => {
        client().stateListeners.add(listener);
        listener(client().state());
      });
    },
    signIn: (email, password) => authRequest("/sign-in/email", { email, password }),
    signUp: (name, email, password) => authRequest("/sign-up/email", { name, email, password }),
    signOut: () => authRequest("/sign-out", {}),
    debug: {
      tokens,
      wireSubscriptions: () => (sync ? sync.wireSubscriptions() : 0),
      // Sockets opened so far and same-socket token refreshes.
      connections: () => (sync ? sync.connectionCount : 0),
      refreshes: () => (sync ? sync.refreshes : 0),
    },
  };
})();
