// A real browser sign-in through the demo (or any ssogate + SimpleSAMLphp):
// Chromium headless driven over the DevTools protocol, no npm packages.
// usage: node --experimental-websocket tests/e2e/browser_signin.mjs BASE_URL EMAIL PASSWORD
// Types EMAIL on BASE_URL/, signs in at the IdP, and expects ssogate's
// "Signed in as EMAIL" page; then signs out and expects the signed-out page.
// Exit 0 on success. Chromium: /usr/bin/chromium (CHROMIUM to override).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, email, password] = process.argv.slice(2);
if (!password) { console.error("usage: browser_signin.mjs BASE_URL EMAIL PASSWORD"); process.exit(2); }
const profile = mkdtempSync(join(tmpdir(), "sg-chromium-"));
const port = 20000 + Math.floor(Math.random() * 20000);
const chrome = spawn(process.env.CHROMIUM || "/usr/bin/chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  `--user-data-dir=${profile}`, `--remote-debugging-port=${port}`, "about:blank"], { stdio: "ignore" });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let ws, seq = 0;
const pending = new Map();
function send(method, params = {}) {
  const id = ++seq;
  ws.send(JSON.stringify({ id, method, params }));
  return new Promise((res, rej) => pending.set(id, { res, rej }));
}
async function evaluate(expr) {
  const r = await send("Runtime.evaluate", { expression: expr, returnByValue: true });
  return r.result.value;
}
async function waitFor(expr, what, ms = 30000) {
  for (let t = 0; t < ms; t += 200) {
    try { if (await evaluate(expr)) return; } catch (e) { /* navigating */ }
    await sleep(200);
  }
  throw new Error("timed out waiting for " + what + " at " + (await evaluate("location.href")) +
                  ": " + (await evaluate("document.body && document.body.innerText")));
}
let rc = 1;
try {
  let target;
  for (let i = 0; i < 100 && !target; i++) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      target = list.find((t) => t.type === "page");
    } catch (e) { await sleep(100); }
  }
  ws = new WebSocket(target.webSocketDebuggerUrl);
  ws.onmessage = (m) => {
    const d = JSON.parse(m.data);
    if (d.id && pending.has(d.id)) {
      const p = pending.get(d.id); pending.delete(d.id);
      d.error ? p.rej(new Error(d.error.message)) : p.res(d.result);
    }
  };
  await new Promise((r) => (ws.onopen = r));
  await send("Page.enable");
  await send("Runtime.enable");
  await send("Page.navigate", { url: base + "/" });
  await waitFor("!!document.querySelector('input[name=email]')", "the sign-in form");
  await evaluate(`document.querySelector('input[name=email]').value = ${JSON.stringify(email)};
                  document.querySelector('form').submit(); true`);
  await waitFor("!!document.querySelector('input[name=password]')", "the IdP's login form");
  await evaluate(`document.querySelector('input[name=username]').value = ${JSON.stringify(email)};
                  document.querySelector('input[name=password]').value = ${JSON.stringify(password)};
                  document.querySelector('input[name=password]').form.submit(); true`);
  // SimpleSAMLphp auto-posts the response with a script (a button without it).
  await waitFor(`location.href.startsWith(${JSON.stringify(base)}) &&
                 document.body.innerText.includes('signed in as')`, "ssogate's signed-in page");
  const text = await evaluate("document.body.innerText");
  if (!text.includes(email)) throw new Error("signed in as someone else: " + text);
  console.log("signed in: " + text.split("\n").find((l) => l.includes("signed in as") || l.includes(email)));
  await evaluate("document.querySelector('form').submit(); true");
  await waitFor("document.body.innerText.includes('signed out') || document.body.innerText.includes('Signed out') || document.body.innerText.includes('logged out')", "the signed-out page");
  console.log("signed out at " + (await evaluate("location.origin + location.pathname")));
  rc = 0;
} catch (e) {
  console.error("FAILED: " + e.message);
} finally {
  try { ws && ws.close(); } catch (e) { /* closing */ }
  chrome.kill("SIGTERM");
  await sleep(300);
  rmSync(profile, { recursive: true, force: true });
  process.exit(rc);
}
