// Browser test of Herald's dashboard (docs/dashboard.md).
//
//   HERALD_URL=http://127.0.0.1:8080 DASHBOARD_PATH=/dashboard node dashboard.mjs
//
// Headless Chromium (Debian's /usr/bin/chromium, never a downloaded one),
// driven by playwright-core, opens the dashboard Herald serves at
// DASHBOARD_PATH and checks that:
//   - it loads, its event stream connects and the cards show figures;
//   - a channel made by a publish (Node's fetch to /pub/<ch>) shows up in
//     its channel list;
//   - its form publishes a message that reaches a subscriber (a long-poll
//     request Node holds open on /sub/<ch>) and the page's own EventSource
//     subscription, which lists it as arrived;
//   - it then saves a screenshot to SCREENSHOT (a .png path).
//
// Prints `ok <name>` or `FAIL <name>: <reason>`, then `N passed, M failed`;
// exits 1 if anything failed. Every wait is bounded.
//
// Environment:
//   HERALD_URL      Herald's base URL (required)
//   DASHBOARD_PATH  the dashboard location's path (default /dashboard)
//   SCREENSHOT      where to save the screenshot (required)
//   CHROMIUM        browser executable (default /usr/bin/chromium)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const WAIT_MS = 8_000; // one awaited page condition
const RUN_MS = 60_000; // the whole run

function die(msg) {
  console.error(`dashboard.mjs: ${msg}`);
  process.exit(2);
}

const HERALD = (process.env.HERALD_URL || '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(HERALD)) die('set HERALD_URL to Herald\'s base URL, e.g. http://127.0.0.1:8080');
const DASH = HERALD + (process.env.DASHBOARD_PATH || '/dashboard');
const SHOT = process.env.SCREENSHOT;
if (!SHOT) die('set SCREENSHOT to the .png file to write');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} not found (apt-get install chromium)`);

const RUN_ID = `dash${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let failed = 0, passed = 0;
function report(name, err) {
  if (err) {
    failed++;
    console.log(`FAIL ${name}: ${String(err && err.message || err).replace(/\s+/g, ' ').slice(0, 800)}`);
  } else {
    passed++;
    console.log(`ok ${name}`);
  }
}

const watchdog = setTimeout(() => {
  console.log(`FAIL run: still running after ${RUN_MS / 1000} s; giving up`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, RUN_MS);
watchdog.unref();

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(5_000) });
  await res.text();
  if (res.status !== 201 && res.status !== 202) throw new Error(`POST ${url}: ${res.status}`);
}

let context = null;
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-dashboard-'));
async function main() {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 1100 },
    timeout: 30_000,
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text() + ' (' + (m.location().url || '') + ')'); });

  // 1. It loads and goes live.
  const listed = `${RUN_ID}-listed`;
  await post(`${HERALD}/pub/${listed}`, 'made by a test publish');
  try {
    const res = await page.goto(DASH, { waitUntil: 'load', timeout: WAIT_MS });
    if (res.status() !== 200) throw new Error(`GET ${DASH}: ${res.status()}`);
    await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, { timeout: WAIT_MS });
    const channels = Number((await page.textContent('#c-channels')).replace(/,/g, ''));
    if (!(channels >= 1)) throw new Error(`channels card shows ${channels}`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
    report('loads');
  } catch (e) {
    report('loads', e);
    return;
  }

  // 2. The published channel is listed.
  try {
    await page.waitForFunction((id) => [...document.querySelectorAll('#channels tbody td:first-child')].some((td) => td.textContent === id),
      listed, { timeout: WAIT_MS });
    report('lists-channel');
  } catch (e) {
    report('lists-channel', new Error(`${listed} not in the channel list within ${WAIT_MS} ms: ${e.message}`));
  }

  // 3. The form publishes to a subscriber and the page watches it arrive.
  const ch = `${RUN_ID}-form`;
  const msg = `hello from the dashboard ${RUN_ID}`;
  try {
    await page.fill('#pub-channel', ch);
    await page.fill('#pub-message', msg);
    await page.click('#watch');
    await page.waitForFunction((c) => document.body.dataset.watching === c, ch, { timeout: WAIT_MS });
    // A subscriber of Node's own: a long-poll request, waiting.
    const sub = fetch(`${HERALD}/sub/${ch}`, { signal: AbortSignal.timeout(WAIT_MS + 5_000) }).then(async (r) => ({ status: r.status, body: await r.text() }));
    // Wait until Herald counts both subscribers before publishing.
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const r = await fetch(`${HERALD}/pub/${ch}`, { signal: AbortSignal.timeout(5_000) });
      const m = (await r.text()).match(/active subscribers: (\d+)/);
      if (m && Number(m[1]) >= 2) break;
      if (Date.now() > deadline) throw new Error(`the channel has ${m ? m[1] : '?'} subscribers, want 2`);
      await new Promise((res) => setTimeout(res, 50));
    }
    await page.click('#send');
    const got = await sub;
    if (got.status !== 200 || got.body !== msg) throw new Error(`the long-poll subscriber got ${got.status} ${JSON.stringify(got.body)}`);
    await page.waitForFunction((m) => [...document.querySelectorAll('#arrivals tbody td.msg')].some((td) => td.textContent === m),
      msg, { timeout: WAIT_MS });
    const status = await page.textContent('#pub-status');
    if (!/^published to .*: 201/.test(status)) throw new Error(`publish status ${JSON.stringify(status)}, want a 201 (subscribers were waiting)`);
    report('form-delivers');
  } catch (e) {
    report('form-delivers', e);
  }

  // 4. The screenshot, once the cards count the form's message.
  try {
    // A snapshot taken after the form's publish and its deliveries (the
    // page and Node's subscriber), so the charts and cards show them.
    await page.waitForFunction(() => {
      const num = (id) => Number(document.getElementById(id).textContent.replace(/,/g, ''));
      return num('c-published') >= 2 && num('c-delivered') >= 2;
    }, null, { timeout: WAIT_MS });
    await page.screenshot({ path: SHOT, fullPage: true });
    if (fs.statSync(SHOT).size < 1000) throw new Error(`${SHOT} is nearly empty`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
    report('screenshot');
  } catch (e) {
    report('screenshot', e);
  }
}

let code = 1;
try {
  await main();
} catch (e) {
  report('run', e);
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
  console.log(`${passed} passed, ${failed} failed`);
  code = failed ? 1 : 0;
}
process.exit(code);
