// Drives headless Chromium over the DevTools protocol against the
// dashboard example; see scripts/dashboard-browser. Every wait is a
// condition polled under a deadline.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [exe, shot] = process.argv.slice(2);
const DEADLINE_MS = 30000;

function fail(msg) {
  console.error("dashboard-browser: FAIL: " + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

// Resolves with the first line of `stream` matching `re`.
function line(stream, re) {
  const lines = createInterface({ input: stream });
  return new Promise((resolve) => lines.on("line", (l) => { const m = l.match(re); if (m) resolve(m); }));
}

async function until(what, probe) {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cluster = spawn(exe, ["127.0.0.1:0"], { stdio: ["pipe", "pipe", "inherit"] });
const clusterOut = createInterface({ input: cluster.stdout });
const clusterLines = [];
clusterOut.on("line", (l) => clusterLines.push(l));
const profile = mkdtempSync(join(tmpdir(), "mosaik-chromium-"));
let browser;
try {
  const url = (await until("the dashboard URL", () => clusterLines.find((l) => l.startsWith("dashboard: ")))).slice(11);
  browser = spawn("chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--remote-debugging-port=0", "--user-data-dir=" + profile,
    "--window-size=1400,1000", "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  const [, wsUrl] = await line(browser.stderr, /DevTools listening on (ws:\/\/\S+)/);
  const port = new URL(wsUrl).port;
  const targets = await until("a page target", async () => {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    return list.find((t) => t.type === "page");
  });
  const ws = new WebSocket(targets.webSocketDebuggerUrl);
  await new Promise((r) => ws.addEventListener("open", r));
  let nextId = 0;
  const pending = new Map();
  ws.addEventListener("message", (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    const id = ++nextId; pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  const evaluate = async (expr) => (await send("Runtime.evaluate", { expression: expr, returnByValue: true })).result?.result?.value;

  await send("Page.enable");
  await send("Page.navigate", { url });
  await until("3 nodes and a leader in the graph", () => evaluate(
    `document.querySelectorAll('#nodes .node').length === 3 && !!document.querySelector('#nodes .node.leader')
     && document.querySelectorAll('#groups tr').length === 2 && document.querySelectorAll('#streams tr').length >= 1
     && document.querySelectorAll('#collections tr').length === 1
     && !!document.querySelector('#edges [data-kind=gossip]') && !!document.querySelector('#edges [data-kind=bond]')
     && !!document.querySelector('#edges [data-kind=stream]')`));
  // Each relation between two nodes has its own curve: no two edges share
  // a path (a bond hidden under a stream, say).
  const paths = await evaluate("[...document.querySelectorAll('#edges path')].map((p) => p.getAttribute('d'))");
  if (new Set(paths).size !== paths.length) fail("two edges are drawn on the same path");
  // Let rates settle over one averaging window before the picture.
  const settled = await evaluate("Number(document.body.dataset.version)");
  await until("a later snapshot", async () => (await evaluate("Number(document.body.dataset.version)")) >= settled + 4);
  const png = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
  writeFileSync(shot, Buffer.from(png.result.data, "base64"));
  const before = await evaluate(`({ updates: Number(document.getElementById('updates').textContent),
    leader: document.getElementById('leader').textContent, nav: performance.getEntriesByType('navigation').length })`);

  // Page update latency: node sample -> rendered, over 40 updates.
  const lags = [];
  let seen = await evaluate("Number(document.body.dataset.version)");
  while (lags.length < 40) {
    const v = await until("the next update", async () => {
      const now = await evaluate("[Number(document.body.dataset.version), Number(document.body.dataset.lagMs)]");
      return now[0] > seen ? now : null;
    });
    seen = v[0];
    lags.push(v[1]);
  }
  lags.sort((a, b) => a - b);

  const leftAt = Date.now();
  cluster.stdin.write("leave\n");
  await until("the cluster to report the node left", () => clusterLines.find((l) => l.startsWith("left ")));
  await until("2 nodes in the graph", () => evaluate("document.querySelectorAll('#nodes .node').length === 2"));
  const gone = Date.now() - leftAt;
  await until("a leader after the leave", () => evaluate("!!document.querySelector('#nodes .node.leader')"));
  const after = await evaluate(`({ updates: Number(document.getElementById('updates').textContent),
    leader: document.getElementById('leader').textContent, nav: performance.getEntriesByType('navigation').length })`);
  if (after.nav !== before.nav || after.updates <= before.updates) fail("the page did not update in place");
  console.log(`dashboard-browser: OK: 3 nodes and leader ${before.leader} shown, ${paths.length} edges on distinct paths, screenshot ${shot}`);
  console.log(`dashboard-browser: sample-to-render latency ms: median ${lags[20]}, p95 ${lags[38]}, max ${lags[39]} (plus up to one sampling interval, 250 ms)`);
  console.log(`dashboard-browser: a node left -> graph showed 2 nodes after ${gone} ms (leader now ${after.leader}, ${after.updates} updates, no reload)`);
  ws.close();
} finally {
  cluster.stdin.end("quit\n");
  if (browser) browser.kill();
  setTimeout(() => { cluster.kill(); rmSync(profile, { recursive: true, force: true }); process.exit(); }, 3000);
}
