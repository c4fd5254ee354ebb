// One ConvexClient subscribed to `hello:greeting` for the whole life of the process; every
// update is printed as `UPDATE <json>`. crates/cli/tests/it/app.rs edits the app under
// `ferrovex dev` and waits for the new value on this same client. Ends when stdin closes.

import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";

const client = new ConvexClient(process.env.CONVEX_URL, { logger: false });
client.onUpdate(
  anyApi.hello.greeting,
  {},
  (value) => console.log(`UPDATE ${JSON.stringify(value)}`),
  (error) => console.log(`ERROR ${error.message}`),
);
process.stdin.on("end", async () => {
  await client.close();
  process.exit(0);
});
process.stdin.resume();
