import WebSocket from "ws";
const size = Number(process.argv[2] || 9437184);
const ws = new WebSocket("ws://127.0.0.1:4310/api/sync", { maxPayload: 0 });
ws.on("open", () => {
  ws.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: null }));
  const body = "x".repeat(size - 100);
  ws.send(JSON.stringify({ type: "Mutation", requestId: 1, udfPath: "messages:send", args: [{ author: "a", body }] }));
});
ws.on("close", (code, reason) => { console.log(`close ${code} ${reason.toString()}`); process.exit(0); });
ws.on("error", (e) => console.log("error", e.message));
setTimeout(() => { console.log("timeout"); process.exit(1); }, 15000);
