// Browser tests of the push-stream profile: the chat page of examples/pushstream
// (index.html and chat.js, with jQuery, pushstream.js and jquery-deparam) in
// headless Chromium, and its Ruby publisher (Pushstream::Publisher over
// Faraday), against a server speaking nginx-push-stream-module's protocol with
// the module's sample layout (`herald serve --preset pushstream`):
//
//   herald serve --preset pushstream --listen 127.0.0.1:9080 &
//   cd browser && HERALD_URL=http://127.0.0.1:9080 node pushstream.mjs
//
// The pages are served from a static server of this script's own on 127.0.0.1
// (random port), exactly as the example writes them except chat.js's `host:`
// and `port:`, which name the server under test. pushstream.js is the
// module's client, loaded from ../../shared/vendor/pushstream/pushstream.js
// (PUSHSTREAM_JS overrides the path). Drives Debian's /usr/bin/chromium with
// playwright-core. Prints `ok <name>` or `FAIL <name>: <reason>` per scenario,
// then `N passed, M failed`; exits 1 if any failed. Every wait is bounded:
// each awaited condition by WAIT_MS, each Ruby publish by RUBY_MS, the whole
// run by RUN_MS.
//
// Environment:
//   HERALD_URL           the server's base URL (required)
//   CHROMIUM             browser executable (default /usr/bin/chromium)
//   RUBY                 ruby executable for the publisher scenarios (default ruby; empty: leave them out)
//   PUSHSTREAM_JS        pushstream.js (default ../../shared/vendor/pushstream/pushstream.js)
//   HERALD_BROWSER_ONLY  optional regular expression: run only matching scenarios

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const WAIT_MS = 8_000;
const RUBY_MS = 20_000;
const RUN_MS = 100_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const example = path.join(repo, 'examples', 'pushstream');
const CHANNEL = 'my-channel'; // chat.js's channel, as the example writes it

function die(msg) {
  console.error(`pushstream.mjs: ${msg}`);
  process.exit(2);
}

if (!process.env.HERALD_URL) die('set HERALD_URL to the server\'s base URL, e.g. HERALD_URL=http://127.0.0.1:9080');
const target = new URL(process.env.HERALD_URL);
const HOST = target.hostname;
const PORT = target.port || '80';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUBY = process.env.RUBY ?? 'ruby'; // '': no Ruby, its scenarios and steps are left out
const only = process.env.HERALD_BROWSER_ONLY ? new RegExp(process.env.HERALD_BROWSER_ONLY) : null;
if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} not found (apt-get install -y chromium)`);

// The files the page loads, by the name index.html gives them.
const require = createRequire(import.meta.url);
const pushstreamJS = process.env.PUSHSTREAM_JS || path.resolve(repo, '..', 'shared', 'vendor', 'pushstream', 'pushstream.js');
if (!fs.existsSync(pushstreamJS)) {
  die(`pushstream.js not found at ${pushstreamJS}: the tests load the module's client from ../shared/vendor/pushstream/ beside the repository (or set PUSHSTREAM_JS)`);
}
let scripts;
try {
  scripts = {
    'jquery.js': fs.readFileSync(require.resolve('jquery') /* dist/jquery.js, the browser build */),
    'jquery-deparm.js': fs.readFileSync(require.resolve('jquery-deparam/jquery-deparam.js')),
    'pushstream.js': fs.readFileSync(pushstreamJS),
  };
} catch (e) {
  die(`cannot read the page's scripts (run \`npm ci\` in browser/): ${e.message}`);
}

// chatJS returns the example's chat.js with host and port naming the
// server under test; it fails if the example no longer has the lines.
function chatJS(variant) {
  const src = fs.readFileSync(path.join(example, variant, 'chat.js'), 'utf8');
  const host = "host: 'YOUR_IP_ADDRESS_HERE',";
  const port = 'port: 9080,';
  if (!src.includes(host) || !src.includes(port)) throw new Error(`${variant}/chat.js has no "${host}" and "${port}" lines`);
  return src.replace(host, `host: '${HOST}',`).replace(port, `port: ${PORT},`);
}

// The static server: /<variant>/<file> for variant chat (the article's first
// page, modes 'websocket') and chat-deparam (its second, 'websocket|eventsource'
// with jquery-deparam).
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://x');
  if (pathname === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return;
  }
  const m = /^\/(chat|chat-deparam)\/([a-z.-]*)$/.exec(pathname);
  let body = null;
  let type = 'text/javascript';
  try {
    if (m && (m[2] === '' || m[2] === 'index.html')) {
      body = fs.readFileSync(path.join(example, m[1], 'index.html'));
      type = 'text/html; charset=utf-8';
    } else if (m && m[2] === 'chat.js') {
      body = chatJS(m[1]);
    } else if (m && scripts[m[2]]) {
      body = scripts[m[2]];
    }
  } catch (e) {
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(e.message);
    return;
  }
  if (body === null) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
    return;
  }
  res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
});

// Test instrumentation, run in each page before its scripts: it keeps every
// WebSocket and EventSource the page opens (subclasses, so pushstream.js
// sees the browser's own), so the test can wait until the page is connected.
// With noWebSocket the page has no WebSocket at all, as in a browser without
// one: pushstream.js then takes the next mode.
const INSTRUMENT = String.raw`
(() => {
  window.__conns = [];
  const keep = (Native) => class extends Native {
    constructor(...args) { super(...args); window.__conns.push(this); }
  };
  if (window.__noWebSocket) { window.WebSocket = undefined; } else { window.WebSocket = keep(window.WebSocket); }
  window.EventSource = keep(window.EventSource);
})();`;

let browser;
let base;
const contexts = [];

// openChat opens variant's page in a browser context of its own and waits
// until pushstream.js holds an open connection of kind ('WebSocket' or
// 'EventSource') to the server.
async function openChat(variant, kind, { noWebSocket = false } = {}) {
  const context = await browser.newContext();
  contexts.push(context);
  if (noWebSocket) await context.addInitScript('window.__noWebSocket = true;');
  await context.addInitScript(INSTRUMENT);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  await page.goto(`${base}/${variant}/index.html`, { timeout: WAIT_MS });
  const prefix = kind === 'WebSocket' ? `ws://${HOST}:${PORT}/ws/${CHANNEL}` : `http://${HOST}:${PORT}/ev/${CHANNEL}`;
  try {
    await page.waitForFunction(([k, p]) => window.__conns.some((c) => c instanceof window[k] && c.readyState === 1 && c.url.startsWith(p)), [kind, prefix], { timeout: WAIT_MS });
  } catch (e) {
    const conns = await page.evaluate(() => window.__conns.map((c) => `${c.url} readyState ${c.readyState}`));
    throw new Error(`${variant} page: no open ${kind} to ${prefix} within ${WAIT_MS} ms (connections: ${JSON.stringify(conns)}; ${page.problems.join('; ') || 'no page errors'})`);
  }
  return page;
}

async function send(page, text) {
  await page.fill('#chat-input', text);
  await page.click('#chat-submit');
}

async function items(page) {
  return page.$$eval('#chat-messages ul li', (lis) => lis.map((li) => li.innerHTML));
}

// waitItems waits until the page's chat log holds want.length items and
// then requires exactly want.
async function waitItems(page, want, what) {
  try {
    await page.waitForFunction((n) => document.querySelectorAll('#chat-messages ul li').length >= n, want.length, { timeout: WAIT_MS });
  } catch {
    // reported below with what the page shows
  }
  const got = await items(page);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what} shows ${JSON.stringify(got)}, want ${JSON.stringify(want)}${page.problems.length ? ` (${page.problems.join('; ')})` : ''}`);
  }
}

// rubyPublish runs the example's Pushstream::Publisher (ruby/publish.rb)
// against the server under test.
function rubyPublish(...args) {
  return new Promise((resolve, reject) => {
    execFile(RUBY, [path.join(example, 'ruby', 'publish.rb'), ...args],
      { timeout: RUBY_MS, env: { ...process.env, NGINX_IP: HOST, NGINX_PORT: PORT } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`ruby publish.rb ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
  });
}

const scenarios = [];
function scenario(name, fn) { scenarios.push({ name, fn }); }

let a;
let b;

scenario('websocket-send', async () => {
  a = await openChat('chat', 'WebSocket');
  b = await openChat('chat', 'WebSocket');
  await send(a, 'Hello from A');
  await waitItems(b, ['Hello from A'], 'page B');
  await waitItems(a, ['Hello from A'], 'page A');
  // sendMessage URI-encodes the text and onmessage decodes it.
  await send(b, 'B: 100% "sure" & more, déjà vu');
  await waitItems(a, ['Hello from A', 'B: 100% "sure" &amp; more, déjà vu'], 'page A');
});

scenario('websocket-ruby-publisher', async () => {
  if (!a || !b) throw new Error('needs websocket-send');
  const out = await rubyPublish(CHANNEL, 'Hello World!');
  if (!out.startsWith('200\n')) throw new Error(`publish answered ${JSON.stringify(out)}, want status 200`);
  const want = ['Hello from A', 'B: 100% "sure" &amp; more, déjà vu', 'Hello World!'];
  await waitItems(a, want, 'page A');
  await waitItems(b, want, 'page B');
});

scenario('websocket-eventsource-send', async () => {
  for (const c of contexts.splice(0)) await c.close();
  a = await openChat('chat-deparam', 'WebSocket'); // the first mode the browser has
  b = await openChat('chat-deparam', 'WebSocket');
  await send(a, 'username=alice&text=hi there');
  await waitItems(b, ['<strong>alice</strong>: hi there'], 'page B');
  await waitItems(a, ['<strong>alice</strong>: hi there'], 'page A');
});

scenario('websocket-eventsource-ruby-publisher', async () => {
  if (!a || !b) throw new Error('needs websocket-eventsource-send');
  // Pushstream::Publisher.publish('my-channel', {username: 'rando', text: 'hello world!'})
  const out = await rubyPublish(CHANNEL, 'username=rando', 'text=hello world!');
  if (!out.startsWith('200\n')) throw new Error(`publish answered ${JSON.stringify(out)}, want status 200`);
  const want = ['<strong>alice</strong>: hi there', '<strong>rando</strong>: hello world!'];
  await waitItems(a, want, 'page A');
  await waitItems(b, want, 'page B');
});

scenario('eventsource-fallback', async () => {
  for (const c of contexts.splice(0)) await c.close();
  // A browser without WebSocket: 'websocket|eventsource' falls back to
  // EventSource on /ev/, and sendMessage POSTs to /pub?id=my-channel.
  const es = await openChat('chat-deparam', 'EventSource', { noWebSocket: true });
  const ws = await openChat('chat-deparam', 'WebSocket');
  await send(ws, 'username=wes&text=to eventsource');
  await waitItems(es, ['<strong>wes</strong>: to eventsource'], 'EventSource page');
  await send(es, 'username=eve&text=from eventsource');
  const want = ['<strong>wes</strong>: to eventsource', '<strong>eve</strong>: from eventsource'];
  await waitItems(ws, want, 'WebSocket page');
  await waitItems(es, want, 'EventSource page');
  if (!RUBY) return;
  await rubyPublish(CHANNEL, 'username=rando', 'text=hello world!');
  want.push('<strong>rando</strong>: hello world!');
  await waitItems(ws, want, 'WebSocket page');
  await waitItems(es, want, 'EventSource page');
});

async function main() {
  const runTimer = setTimeout(() => {
    console.log(`FAIL run: did not finish within ${RUN_MS} ms`);
    process.exit(1);
  }, RUN_MS);
  const cleanup = async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => {});
    if (browser) await browser.close().catch(() => {});
    server.close();
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { cleanup().finally(() => process.exit(1)); });
  }
  const results = [];
  try {
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
    // launch runs Chromium with a fresh temporary profile of its own.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    for (const s of scenarios) {
      if (only && !only.test(s.name)) continue;
      if (!RUBY && s.name.includes('ruby')) {
        console.log(`skip ${s.name}: no RUBY`);
        continue;
      }
      try {
        await s.fn();
        results.push(true);
        console.log(`ok ${s.name}`);
      } catch (e) {
        results.push(false);
        console.log(`FAIL ${s.name}: ${String(e && e.message ? e.message : e).replace(/\n/g, ' | ')}`);
      }
    }
  } finally {
    await cleanup();
    clearTimeout(runTimer);
  }
  const failed = results.filter((ok) => !ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL run: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
