// A live task list: the official `convex` client, typed by the generated `api`.
import { ConvexClient } from "convex/browser";
import { api } from "../convex/_generated/api";

const url = import.meta.env.VITE_CONVEX_URL ?? "http://127.0.0.1:3210";
const client = new ConvexClient(url);

const list = document.getElementById("tasks")!;
const status = document.getElementById("status")!;

client.onUpdate(api.tasks.list, {}, (tasks) => {
  status.textContent = `${tasks.length} task(s), live from ${url}`;
  list.replaceChildren(
    ...tasks.map((task) => {
      const item = document.createElement("li");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = task.done;
      box.onchange = () => void client.mutation(api.tasks.setDone, { id: task._id, done: box.checked });
      item.append(box, " ", task.text);
      return item;
    }),
  );
});

document.getElementById("add")!.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("text") as HTMLInputElement;
  await client.mutation(api.tasks.add, { text: input.value });
  input.value = "";
});
