import WebSocket from "ws";
const N = Number(process.argv[2] || 5);
const name = "ord" + Date.now() + Math.floor(Math.random()*1000);
const tsNum = (b64) => { const b = Buffer.from(b64, "base64"); return b.readBigUInt64LE(0); };
const ws = new WebSocket("ws://127.0.0.1:4310/api/sync");
const events = [];
const responded = new Map(); // requestId -> ts
let inversions = 0;
ws.on("open", () => {
  ws.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: null }));
  ws.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "counter:get", args: [{ name }] }] }));
  setTimeout(() => {
    for (let i = 1; i <= N; i++) ws.send(JSON.stringify({ type: "Mutation", requestId: i, udfPath: "counter:increment", args: [{ name }] }));
  }, 300);
});
const pendingTs = new Map();
ws.on("message", (data) => {
  const m = JSON.parse(data.toString());
  if (m.type === "Transition") {
    const ts = tsNum(m.endVersion.ts);
    const mod = m.modifications.find((x) => x.queryId === 0);
    const val = mod && mod.value ? mod.value.value : undefined;
    events.push(`T(value=${JSON.stringify(val)},ts=${ts})`);
    // value carries writes of mutation #k (counter = k). If any mutation with requestId<=val has not been answered -> inversion
    if (typeof val === "object" && val && val.$integer) {}
    const v = typeof val === "number" ? val : (val && val.$integer ? Number(Buffer.from(val.$integer, "base64").readBigInt64LE(0)) : null);
    if (v !== null) for (let k = 1; k <= v; k++) if (!responded.has(k)) { inversions++; events.push(`  !! Transition includes write of #${k} before MutationResponse#${k}`); }
  } else if (m.type === "MutationResponse") {
    responded.set(m.requestId, m.ts);
    events.push(`MR#${m.requestId}(ts=${m.ts ? tsNum(m.ts) : "-"},success=${m.success})`);
    if (responded.size === N) setTimeout(() => { console.log(events.join("\n")); console.log(`inversions: ${inversions}`); ws.close(); }, 500);
  } else if (m.type !== "Ping") events.push(m.type + " " + JSON.stringify(m).slice(0, 150));
});
ws.on("error", (e) => console.log("error", e.message));
