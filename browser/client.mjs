// Browser tests of herald.js and the chat example (examples/chat), served by
// Herald itself from examples/chat/herald.yaml:
//
//   herald serve -c examples/chat/herald.yaml --listen 127.0.0.1:8080 &   # from the repository root
//   cd browser && HERALD_URL=http://127.0.0.1:8080 node client.mjs
//
// Drives headless Chromium (Debian's /usr/bin/chromium) with playwright-core.
// Prints `ok <name>` or `FAIL <name>: <reason>` per scenario, then
// `N passed, M failed`; exits 1 if any failed. Every wait is bounded: each
// awaited condition by WAIT_MS, the whole run by RUN_MS.
//
// Environment:
//   HERALD_URL           Herald's base URL (required)
//   CHROMIUM             browser executable (default /usr/bin/chromium)
//   HERALD_BROWSER_ONLY  optional regular expression: run only matching scenarios

import { chromium } from 'playwright-core';

const WAIT_MS = 8_000;
const RUN_MS = 90_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!process.env.HERALD_URL) {
  console.error('client.mjs: set HERALD_URL to Herald\'s base URL');
  process.exit(2);
}
const HERALD = new URL(process.env.HERALD_URL).origin;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const only = process.env.HERALD_BROWSER_ONLY ? new RegExp(process.env.HERALD_BROWSER_ONLY) : null;
const results = [];
const runTimer = setTimeout(() => {
  console.log(`FAIL run: did not finish within ${RUN_MS} ms`);
  process.exit(1);
}, RUN_MS);

// A unique room per run, so buffers of earlier runs do not count.
const RUN = Date.now().toString(36);

let browser;

// openChat opens the chat page in a context of its own (its own
// sessionStorage) and waits until it is connected over want.
async function openChat(query, want) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(`${HERALD}/?${query}`, { timeout: WAIT_MS });
  await page.waitForSelector(`#status[data-transport="${want}"]`, { timeout: WAIT_MS });
  return page;
}

async function send(page, text) {
  await page.fill('#text', text);
  await page.click('#submit');
}

async function texts(page) {
  return page.$$eval('#messages li', (lis) => lis.map((li) => li.lastChild.textContent));
}

// waitTexts waits until the page shows exactly want (in order).
async function waitTexts(page, want, what) {
  const deadline = Date.now() + WAIT_MS;
  let got;
  while (Date.now() < deadline) {
    got = await texts(page);
    if (got.length >= want.length) break;
    await page.waitForTimeout(50);
  }
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: shows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function transportOf(page) {
  return page.$eval('#status', (s) => s.dataset.transport || '');
}

const scenarios = [];
function scenario(name, fn) { scenarios.push({ name, fn }); }

const room = `r${RUN}`;
let a, b;

scenario('chat-two-pages', async () => {
  a = await openChat(`room=${room}`, 'websocket');
  b = await openChat(`room=${room}`, 'websocket');
  await send(a, 'hello from a');
  await waitTexts(b, ['hello from a'], 'page b');
  await waitTexts(a, ['hello from a'], 'page a');
  await send(b, 'hi from b');
  await waitTexts(a, ['hello from a', 'hi from b'], 'page a');
});

scenario('chat-reload-resumes', async () => {
  if (!a || !b) throw new Error('needs chat-two-pages');
  // Messages sent while b reloads reach it after the reload, once each,
  // after the history it had.
  const reload = b.reload({ timeout: WAIT_MS });
  await send(a, 'during reload 1');
  await send(a, 'during reload 2');
  await reload;
  await b.waitForSelector('#status[data-transport="websocket"]', { timeout: WAIT_MS });
  await send(a, 'after reload');
  await waitTexts(b, ['hello from a', 'hi from b', 'during reload 1', 'during reload 2', 'after reload'], 'page b after reload');
  // The client resumed from its saved id: the buffer was not read again.
  const saved = await b.evaluate((r) => sessionStorage.getItem('herald:/chat/socket:' + r), room);
  if (!saved || !/^\d+:\d+$/.test(saved)) throw new Error(`saved id ${saved}`);
});

scenario('chat-room-switch', async () => {
  if (!a || !b) throw new Error('needs chat-two-pages');
  // a leaves the room for another on the same socket; what b says in the
  // first room no longer reaches it.
  const other = `${room}-other`;
  await a.evaluate((r) => window.chat.enter(r), other);
  await send(b, 'only in the first room');
  await send(a, 'in the other room');
  await waitTexts(a, ['in the other room'], 'page a in the other room');
  // Back in the first room, it resumes from the last message it had there.
  await a.evaluate((r) => window.chat.enter(r), room);
  await waitTexts(a, ['hello from a', 'hi from b', 'during reload 1', 'during reload 2', 'after reload', 'only in the first room'],
    'page a back in the first room');
});

scenario('fallback-eventsource', async () => {
  // The socket is refused (no location answers it): the client falls back
  // to EventSource, and publishes with fetch.
  const c = await openChat(`room=${room}-es&socket=/chat/refused`, 'eventsource');
  const d = await openChat(`room=${room}-es`, 'websocket');
  await send(d, 'to eventsource');
  await waitTexts(c, ['to eventsource'], 'eventsource page');
  await send(c, 'from eventsource');
  await waitTexts(d, ['to eventsource', 'from eventsource'], 'websocket page');
  if (c.errors.length) throw new Error(`page errors: ${c.errors.join('; ')}`);
});

scenario('fallback-longpoll', async () => {
  const c = await openChat(`room=${room}-lp&transports=longpoll`, 'longpoll');
  const d = await openChat(`room=${room}-lp`, 'websocket');
  await send(d, 'to long-poll 1');
  await waitTexts(c, ['to long-poll 1'], 'long-poll page');
  await send(d, 'to long-poll 2');
  await waitTexts(c, ['to long-poll 1', 'to long-poll 2'], 'long-poll page');
});

scenario('client-multiplex', async () => {
  // herald.js on its own: two channels on one socket, each message tagged
  // with its channel; a publish acknowledged with its id; binary data.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${HERALD}/herald.js`, { timeout: WAIT_MS }); // any page of the same origin
  await page.addScriptTag({ url: `${HERALD}/herald.js` });
  const got = await page.evaluate(async ({ x, y, wait }) => {
    const h = new Herald('/chat/socket', { resume: false });
    const seen = [];
    let done;
    const all = new Promise((res) => { done = res; });
    const onMsg = (m) => {
      seen.push([m.channel, typeof m.data === 'string' ? m.data : Array.from(m.data).join(',')]);
      if (seen.length === 3) done();
    };
    h.subscribe(x, onMsg, { from: 'end' });
    h.subscribe(y, onMsg, { from: 'end' });
    await new Promise((res) => h.on('connect', res));
    // Wait for both subscribe acks by a ping through the socket's order.
    await h._request({ op: 'ping' });
    const ack = await h.publish(x, 'one');
    await h.publish(y, new Uint8Array([0, 255, 7]), { contentType: 'application/octet-stream' });
    await h.publish(x, 'three');
    await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error('messages did not arrive')), wait))]);
    h.close();
    return { seen, ackId: ack.id, transport: h.transport };
  }, { x: `${room}-x`, y: `${room}-y`, wait: WAIT_MS });
  // Each channel's messages in publish order; no order is promised
  // between channels (docs/multiplex.md, Ordering).
  const byChannel = (pairs) => JSON.stringify([`${room}-x`, `${room}-y`].map((c) => pairs.filter(([ch]) => ch === c).map(([, d]) => d)));
  const want = [[`${room}-x`, 'one'], [`${room}-y`, '0,255,7'], [`${room}-x`, 'three']];
  if (got.seen.length !== want.length || byChannel(got.seen) !== byChannel(want)) throw new Error(`got ${JSON.stringify(got.seen)}, want per channel ${byChannel(want)}`);
  if (!/^\d+:\d+$/.test(got.ackId || '')) throw new Error(`publish ack id ${got.ackId}`);
  await context.close();
});

// Against a Herald whose locations need tokens granting "granted"
// (HERALD_TOKEN_URL, HERALD_TOKEN; started by TestBrowserClient).
const TOKEN_URL = process.env.HERALD_TOKEN_URL ? new URL(process.env.HERALD_TOKEN_URL).origin : null;
const TOKEN = process.env.HERALD_TOKEN || '';
for (const transport of ['websocket', 'eventsource', 'longpoll']) {
  scenario(`client-token-${transport}`, async () => {
    if (!TOKEN_URL) throw new Error('set HERALD_TOKEN_URL and HERALD_TOKEN');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${TOKEN_URL}/herald.js`, { timeout: WAIT_MS });
    await page.addScriptTag({ url: `${TOKEN_URL}/herald.js` });
    const got = await page.evaluate(async ({ token, transport, wait }) => {
      const timeout = (what) => new Promise((_, rej) => setTimeout(() => rej(new Error(what)), wait));
      const out = {};
      // Without a token: the subscription is refused with 401.
      const bare = new Herald('/mux', { transports: [transport], resume: false });
      out.bare = await Promise.race([
        new Promise((res) => bare.subscribe('granted', () => {}, { onError: (e) => res(e.status) })),
        new Promise((res) => bare.on('fallback', () => res('fallback'))),
        new Promise((res) => bare.on('disconnect', () => res('disconnect'))),
        timeout('no refusal without a token')]);
      bare.close();
      const h = new Herald('/mux', { transports: [transport], resume: false, token });
      const connected = new Promise((res) => h.on('connect', res));
      let got;
      const msg = new Promise((res) => { got = res; });
      h.subscribe('granted', (m) => got(m.data), { from: 'end' });
      await Promise.race([connected, timeout('no connect')]);
      // A channel the token does not grant is refused alone.
      out.other = await Promise.race([
        new Promise((res) => h.subscribe('other', () => {}, { onError: (e) => res(e.status) })),
        new Promise((res) => h.on('disconnect', () => res('disconnect'))),
        timeout('no refusal of a channel the token does not grant')]);
      // Over the socket, the subscription is in place once a ping sent
      // after its subscribe is answered; an EventSource, once it opened.
      if (transport === 'websocket') await h._request({ op: 'ping' });
      out.ack = (await h.publish('granted', 'with a token')).status;
      out.data = await Promise.race([msg, timeout('message did not arrive')]);
      h.close();
      return out;
    }, { token: TOKEN, transport, wait: WAIT_MS });
    // EventSource does not tell a refusal's status: the client gives up the
    // transport when nothing connected, and reports the one channel (0)
    // when others work.
    const want = {
      websocket: { bare: 401, other: 403, ack: 201, data: 'with a token' },
      eventsource: { bare: 'disconnect', other: 0, ack: 201, data: 'with a token' },
      // A long-poll gives no sign that it is waiting: the publish may come
      // first (202) and the poll then finds the message in the buffer.
      longpoll: { bare: 401, other: 403, ack: got.ack === 202 ? 202 : 201, data: 'with a token' },
    }[transport];
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    await context.close();
  });
}

try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
} catch (e) {
  console.log(`FAIL browser: Chromium (${CHROMIUM}) did not start: ${String(e.message).split('\n')[0]}`);
  process.exit(1);
}
for (const s of scenarios) {
  if (only && !only.test(s.name)) continue;
  try {
    await s.fn();
    results.push({ name: s.name, ok: true });
    console.log(`ok ${s.name}`);
  } catch (e) {
    const reason = String(e && e.message || e).split('\n')[0];
    results.push({ name: s.name, ok: false, reason });
    console.log(`FAIL ${s.name}: ${reason}`);
  }
}
await browser.close().catch(() => {});
clearTimeout(runTimer);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
