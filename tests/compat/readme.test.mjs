// README.md, executed: every ```sh and ```js snippet runs against a real deployment on free
// ports (the README's 127.0.0.1:3210 / :3211 / :3000 and localhost spellings are replaced by the
// real addresses), unless a `<!-- readme-test: not run: REASON -->` line above it says why not.
// Directives, separated by ";": `prints: TEXT` (the output must contain TEXT) and `in a
// browser` (a js snippet bundled with esbuild and run in Chromium on a page whose origin is in
// --trusted-origins). sh snippets run with `ferrovex` on PATH and FERROVEX_URL set; js snippets
// run as Node modules from this folder, where the official clients are installed.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, symlinkSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import puppeteer from "puppeteer-core";

const BIN = process.env.FERROVEX_BIN;
if (!BIN) throw new Error("FERROVEX_BIN must point at the ferrovex binary");
const HERE = path.dirname(fileURLToPath(import.meta.url));
const README = path.join(HERE, "..", "..", "README.md");
const SNIPPET_TIMEOUT_MS = 60000;

/** The fenced sh/js blocks of the README with their directives and line numbers. */
function snippets() {
  const lines = readFileSync(README, "utf8").split("\n");
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^```(\w+)\s*$/);
    if (!open) continue;
    const end = lines.indexOf("```", i + 1);
    assert.ok(end > i, `README.md:${i + 1}: unclosed code block`);
    const lang = open[1];
    const code = lines.slice(i + 1, end).join("\n");
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === "") j--;
    const directive = lines[j]?.match(/^<!-- readme-test: (.*) -->$/)?.[1] ?? "";
    if (lang === "sh" || lang === "js") found.push({ line: i + 1, lang, code, directive });
    i = end;
  }
  return found;
}

/** The snippet's directives: `{ skip, browser, prints }`. */
function parse(directive, where) {
  const out = { skip: null, browser: false, prints: [] };
  if (directive.startsWith("not run:")) {
    out.skip = directive.slice("not run:".length).trim();
    assert.ok(out.skip.length > 10, `${where}: "not run" needs a stated reason`);
    return out;
  }
  for (const part of directive.split(";").map((p) => p.trim()).filter(Boolean)) {
    if (part === "in a browser") out.browser = true;
    else if (part.startsWith("prints:")) out.prints.push(part.slice("prints:".length).trim());
    else assert.fail(`${where}: unknown readme-test directive "${part}"`);
  }
  return out;
}

/** A `ferrovex serve` on free ports; resolves to `{ urls, stop }`. */
async function deployment(extra = []) {
  const dir = mkdtempSync(path.join(tmpdir(), "fx-readme-"));
  const child = spawn(BIN, ["serve", "--api-port", "0", "--site-port", "0", "--web-port", "0", "--data-dir", dir, ...extra], {
    env: { ...process.env, FERROVEX_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const urls = {};
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const m = line.match(/^\s+(api|site|web):\s+(http:\/\/\S+)/);
    if (m) urls[m[1]] = m[2];
  });
  const end = Date.now() + 30000;
  while (!urls.web) {
    if (Date.now() > end || child.exitCode !== null) throw new Error("the server did not print its URLs");
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  return { urls, stop };
}

/** The snippet with the README's addresses replaced by the deployment's. */
function substitute(code, urls) {
  const host = (u) => u.replace(/^http:\/\//, "");
  const ports = { 3210: host(urls.api), 3211: host(urls.site), 3000: host(urls.web) };
  return code.replace(/\b(?:127\.0\.0\.1|localhost):(3210|3211|3000)\b/g, (_, port) => ports[port]);
}

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: SNIPPET_TIMEOUT_MS, ...opts }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? error.signal) : 0, out: `${stdout}${stderr}` }));
  });
}

/** Runs a js snippet in Chromium from a page on its own origin; resolves to its console output. */
async function inBrowser(code, trustedPage) {
  const bundle = await build({ stdin: { contents: code, resolveDir: HERE, loader: "js" }, bundle: true, format: "esm", write: false, target: "es2022", logLevel: "silent" });
  trustedPage.body = bundle.outputFiles[0].text;
  const browser = await puppeteer.launch({
    browser: "chrome",
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(`page error: ${e.message}`));
    await page.goto(trustedPage.url);
    return { page, logs, close: () => browser.close() };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

describe("README.md snippets", () => {
  const all = snippets();
  let main, browserSide, scratch, pageServer;
  const trustedPage = { url: "", body: "" };

  before(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), "fx-readme-bin-"));
    mkdirSync(path.join(scratch, "bin"));
    symlinkSync(BIN, path.join(scratch, "bin", "ferrovex"));
    // The page that runs the browser snippet, on its own origin.
    pageServer = createServer((req, res) => {
      if (req.url === "/snippet.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(trustedPage.body);
      } else {
        res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script type="module" src="/snippet.js"></script>');
      }
    });
    await new Promise((r) => pageServer.listen(0, "127.0.0.1", r));
    trustedPage.url = `http://127.0.0.1:${pageServer.address().port}`;
    main = await deployment();
    browserSide = await deployment(["--trusted-origins", trustedPage.url]);
  });

  after(async () => {
    await main?.stop();
    await browserSide?.stop();
    pageServer?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test("every sh and js snippet either runs or says why not", () => {
    assert.ok(all.length >= 8, `found only ${all.length} snippets`);
    const ran = all.filter((s) => !parse(s.directive, `README.md:${s.line}`).skip);
    assert.ok(ran.length >= 5, `only ${ran.length} snippets run`);
  });

  for (const snippet of all) {
    const where = `README.md:${snippet.line}`;
    const opts = parse(snippet.directive, where);
    const title = `${where} (${snippet.lang}${opts.browser ? ", browser" : ""})`;
    if (opts.skip) {
      test(title, { skip: opts.skip }, () => {});
      continue;
    }
    test(title, async () => {
      const target = opts.browser ? browserSide : main;
      const code = substitute(snippet.code, target.urls);
      let out;
      if (snippet.lang === "sh") {
        const env = { ...process.env, PATH: `${path.join(scratch, "bin")}:${process.env.PATH}`, FERROVEX_URL: target.urls.api };
        const r = await run("sh", ["-e", "-c", code], { env, cwd: scratch });
        assert.equal(r.code, 0, `${where} failed:\n${r.out}`);
        out = r.out;
      } else if (opts.browser) {
        const { page, logs, close } = await inBrowser(code, trustedPage);
        try {
          const end = Date.now() + SNIPPET_TIMEOUT_MS;
          while (!opts.prints.every((p) => logs.some((l) => l.includes(p)))) {
            assert.ok(!logs.some((l) => l.startsWith("page error")), `${where}: ${logs.join("\n")}`);
            assert.ok(Date.now() < end, `${where}: timed out; console:\n${logs.join("\n")}`);
            await new Promise((r) => setTimeout(r, 100));
          }
          await page.close();
        } finally {
          await close();
        }
        out = logs.join("\n");
      } else {
        const file = path.join(HERE, `.readme-snippet-${snippet.line}.mjs`);
        writeFileSync(file, code);
        try {
          const r = await run("node", [file], { cwd: HERE });
          assert.equal(r.code, 0, `${where} failed (or did not exit):\n${r.out}`);
          out = r.out;
        } finally {
          rmSync(file, { force: true });
        }
      }
      for (const p of opts.prints) assert.ok(out.includes(p), `${where} should print "${p}":\n${out}`);
    });
  }
});
