import { ConvexClient } from "convex/browser";
const client = new ConvexClient("http://127.0.0.1:4310");
const name = "os" + Date.now() + Math.floor(Math.random() * 1000);
const seen = [];
client.onUpdate("counter:get", { name }, (v) => seen.push(Number(v.value)));
await new Promise((r) => setTimeout(r, 500));
const ps = [];
for (let i = 0; i < 10; i++) {
  ps.push(client.mutation("counter:increment", { name }, {
    optimisticUpdate: (store, args) => {
      const cur = store.getQuery("counter:get", { name });
      if (cur) store.setQuery("counter:get", { name }, { ...cur, value: cur.value + 1n });
    },
  }));
}
await Promise.all(ps);
await new Promise((r) => setTimeout(r, 800));
const max = Math.max(...seen), fin = seen[seen.length - 1];
console.log("values seen:", seen.join(" "), "| max", max, "final", fin, max > 10 ? "OVERSHOOT" : "ok");
await client.close();
