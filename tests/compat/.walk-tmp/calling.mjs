import { ConvexClient, ConvexHttpClient } from "convex/browser";
const live = new ConvexClient("http://127.0.0.1:4310");
live.onUpdate("messages:list", { channel: "general" }, (messages) => console.log(messages.length, "messages (live)"));
await live.mutation("messages:send", { author: "ada", body: "hello" });

const http = new ConvexHttpClient("http://127.0.0.1:4310");
console.log((await http.query("messages:list", {})).length, "messages (http)");
await live.close();
