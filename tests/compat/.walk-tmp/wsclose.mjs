import WebSocket from "ws";
const ws = new WebSocket(process.argv[2]);
ws.on("open", () => { ws.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: null })); console.log("open"); });
ws.on("close", (code, reason) => { console.log(`close ${code} ${reason.toString()}`); process.exit(0); });
ws.on("error", (e) => console.log("error", e.message));
setTimeout(() => { console.log("timeout"); process.exit(1); }, 10000);
