// Browser end-to-end tests for Herald.
//
//   HERALD_URL=http://127.0.0.1:8080 node run.mjs
//
// Serves a test page from a static server of its own on 127.0.0.1 (a different
// origin from Herald, so every request the page makes is cross-origin and
// exercises CORS), drives headless Chromium (Debian's /usr/bin/chromium, never
// a downloaded one) with playwright-core, publishes with Node's fetch and checks
// what the page received: native EventSource, native WebSocket (plain and
// ws+meta.nchan) and NchanSubscriber.js over websocket, eventsource and
// longpoll.
//
// Prints `ok <name>` or `FAIL <name>: <reason>` per scenario, then
// `N passed, M failed`; exits 1 if any failed. Every wait is bounded: each
// await of a browser event by WAIT_MS, each scenario by SCENARIO_MS, the
// whole run by RUN_MS.
//
// Environment:
//   HERALD_URL       Herald's base URL (required), e.g. http://127.0.0.1:8080
//   CHROMIUM         browser executable (default /usr/bin/chromium)
//   HERALD_BROWSER_ONLY  optional regular expression: run only matching scenarios

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const WAIT_MS = 5_000; // one awaited browser event (open, a message, a close)
const SCENARIO_MS = 15_000; // one scenario, all included
const RUN_MS = 90_000; // the whole run, browser start and cleanup included
const CLEANUP_RESERVE_MS = 8_000; // kept back from RUN_MS for closing everything
const PUBLISH_MS = 5_000; // one publish request

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const started = Date.now();
const results = []; // {name, ok, reason}

// ---------------------------------------------------------------------------
// Configuration

function die(msg) {
  console.error(`run.mjs: ${msg}`);
  process.exit(2);
}

const rawHerald = process.env.HERALD_URL;
if (!rawHerald) die('set HERALD_URL to Herald\'s base URL, e.g. HERALD_URL=http://127.0.0.1:8080');
let heraldURL;
try {
  heraldURL = new URL(rawHerald);
} catch {
  die(`HERALD_URL ${JSON.stringify(rawHerald)} is not a URL`);
}
if (heraldURL.protocol !== 'http:' && heraldURL.protocol !== 'https:') die('HERALD_URL must be http:// or https://');
const HERALD = heraldURL.origin + heraldURL.pathname.replace(/\/+$/, '');
const HERALD_WS = HERALD.replace(/^http/, 'ws');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let only = null;
if (process.env.HERALD_BROWSER_ONLY) only = new RegExp(process.env.HERALD_BROWSER_ONLY);

const require = createRequire(import.meta.url);
let nchanSource;
try {
  nchanSource = fs.readFileSync(require.resolve('nchan/NchanSubscriber.js'));
} catch (e) {
  die(`cannot read nchan/NchanSubscriber.js (run \`npm ci\` in browser/): ${e.message}`);
}
if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} not found (apt-get install chromium)`);

// A prefix that keeps this run's channels apart from any other run's.
const RUN_ID = `br${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// ---------------------------------------------------------------------------
// The test page. window.T records what each subscriber (native EventSource,
// native WebSocket, NchanSubscriber) saw and lets the runner await it without
// polling: every recorder event re-checks the pending waits.

const PAGE_SCRIPT = String.raw`
window.T = (() => {
  const recs = {};
  const now = () => Math.round(performance.now());
  function rec(name) {
    const r = { name, msgs: [], log: [], fatal: null, opened: false, protocol: null,
      disconnects: 0, reconnects: 0, stopping: false, waiters: new Set(), transport: null, obj: null };
    recs[name] = r;
    return r;
  }
  function get(name) {
    const r = recs[name];
    if (!r) throw new Error('no subscriber named ' + name);
    return r;
  }
  function note(r, s) {
    r.log.push(now() + 'ms ' + s);
    if (r.log.length > 30) r.log.shift();
  }
  function kick(r) { for (const w of [...r.waiters]) w(); }
  function fatal(r, s) {
    note(r, 'FATAL ' + s);
    if (!r.fatal) r.fatal = s;
    kick(r);
  }
  function snapshot(r) {
    return { msgs: r.msgs, log: r.log, fatal: r.fatal, opened: r.opened, protocol: r.protocol,
      disconnects: r.disconnects, reconnects: r.reconnects, transport: r.transport };
  }
  function describe(a, b) {
    if (a && typeof a === 'object') {
      if ('code' in a && 'reason' in a) return 'close code ' + a.code + (a.reason ? ' reason "' + a.reason + '"' : '');
      const t = a.target || a.currentTarget;
      return (a.type || 'event') + ' event' + (t && 'readyState' in t ? ' (readyState ' + t.readyState + ')' : '');
    }
    return String(a) + (b !== undefined && b !== null && b !== '' ? ' ' + JSON.stringify(String(b).slice(0, 200)) : '');
  }

  // Resolves when cond holds ({open: true}; {data: body} and/or {count: n}),
  // when the subscriber failed (fatal) or after ms.
  function wait(name, cond, ms) {
    const r = get(name);
    return new Promise((resolve) => {
      let timer = null;
      const done = (met, timedOut) => {
        clearTimeout(timer);
        r.waiters.delete(check);
        resolve({ met, timedOut, ...snapshot(r) });
      };
      function check() {
        let met = false;
        if (cond.open) met = r.opened;
        if (cond.data !== undefined && r.msgs.some((m) => m.data === cond.data)) met = true;
        if (cond.count !== undefined && r.msgs.length >= cond.count) met = true;
        if (met || r.fatal) done(met, false);
      }
      timer = setTimeout(() => done(false, true), ms);
      r.waiters.add(check);
      check();
    });
  }

  function eventSource(name, url, opts) {
    const r = rec(name);
    r.transport = 'native EventSource';
    note(r, 'new EventSource(' + url + ')');
    const es = new EventSource(url, opts || {});
    r.obj = es;
    es.onopen = () => { r.opened = true; note(r, 'open'); kick(r); };
    es.onmessage = (e) => {
      r.msgs.push({ data: e.data, id: e.lastEventId });
      note(r, 'message lastEventId=' + e.lastEventId);
      kick(r);
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        fatal(r, 'EventSource failed and closed' + (r.opened ? '' : ' without opening') +
          ' (readyState CLOSED: the response was not a 200 text/event-stream, or CORS refused it)');
      } else {
        r.reconnects++;
        note(r, 'error with readyState ' + es.readyState + ': the stream ended and the browser is reconnecting');
        kick(r);
      }
    };
  }

  function webSocket(name, url, protocol) {
    const r = rec(name);
    r.transport = 'native WebSocket';
    note(r, 'new WebSocket(' + url + (protocol ? ', ' + protocol : '') + ')');
    const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    r.obj = ws;
    ws.onopen = () => { r.opened = true; r.protocol = ws.protocol; note(r, 'open, protocol "' + ws.protocol + '"'); kick(r); };
    ws.onmessage = (e) => {
      const binary = typeof e.data !== 'string';
      const raw = binary ? new TextDecoder().decode(e.data) : e.data;
      const m = { raw, data: raw, binary, id: null, ct: null };
      if (protocol) {
        const h = raw.match(/^id: (.*)\n(content-type: (.*)\n)?\n/);
        if (h) { m.data = raw.slice(h[0].length); m.id = h[1]; m.ct = h[3] === undefined ? null : h[3]; }
      }
      r.msgs.push(m);
      note(r, (binary ? 'binary' : 'text') + ' frame, ' + raw.length + ' chars');
      kick(r);
    };
    ws.onerror = () => note(r, 'error');
    ws.onclose = (e) => {
      r.disconnects++;
      fatal(r, 'WebSocket closed' + (r.opened ? '' : ' before it opened (handshake failed)') + ': code ' + e.code +
        (e.reason ? ' reason "' + e.reason + '"' : ''));
    };
  }

  function close(name) {
    const r = get(name);
    r.stopping = true;
    r.obj.close();
    note(r, 'closed by the page');
  }

  function nchan(name, url, opts) {
    const r = rec(name);
    const sub = new NchanSubscriber(url, opts);
    r.obj = sub;
    note(r, 'new NchanSubscriber(' + url + ', ' + JSON.stringify(opts) + '), lastMessageId=' + sub.lastMessageId);
    sub.on('transportSetup', (o, n) => { r.transport = n; note(r, 'transport ' + n); });
    sub.on('connect', () => { r.opened = true; note(r, 'connect'); kick(r); });
    sub.on('message', (msg, meta) => {
      r.msgs.push({
        data: typeof msg === 'string' ? msg : '[' + Object.prototype.toString.call(msg) + ']',
        id: meta && meta.id != null ? String(meta.id) : null,
        ct: (meta && meta['content-type']) || null,
      });
      note(r, 'message id=' + (meta && meta.id));
      kick(r);
    });
    sub.on('disconnect', (a, b) => {
      r.disconnects++;
      if (r.stopping) { note(r, 'disconnect after stop(): ' + describe(a, b)); kick(r); return; }
      fatal(r, (r.transport || 'NchanSubscriber') + ' transport disconnected unexpectedly: ' + describe(a, b));
    });
    sub.on('error', (a, b) => fatal(r, (r.transport || 'NchanSubscriber') + ' transport error: ' + describe(a, b)));
    sub.start();
    return sub.lastMessageId == null ? null : String(sub.lastMessageId);
  }

  // stop() an NchanSubscriber and wait until its transport is really gone:
  // a websocket closes asynchronously, and NchanSubscriber 1.0.10 confuses
  // the old socket's late close with a new one when start() comes first.
  // (EventSource.close() fires no event; long-poll's abort is synchronous.)
  function stop(name, ms) {
    const r = get(name);
    r.stopping = true;
    const before = r.disconnects;
    r.obj.stop();
    note(r, 'stop(), lastMessageId=' + r.obj.lastMessageId);
    const needEvent = r.transport !== 'eventsource';
    return new Promise((resolve) => {
      let timer = null;
      const done = (ok) => {
        clearTimeout(timer);
        r.waiters.delete(check);
        resolve({ ok, lastMessageId: r.obj.lastMessageId == null ? null : String(r.obj.lastMessageId), log: r.log });
      };
      function check() { if (!needEvent || r.disconnects > before) done(true); }
      timer = setTimeout(() => done(false), ms);
      r.waiters.add(check);
      check();
    });
  }

  function start(name) {
    const r = get(name);
    r.stopping = false;
    note(r, 'start()');
    r.obj.start();
  }

  const session = (key) => sessionStorage.getItem(key);

  return { wait, eventSource, webSocket, close, nchan, stop, start, session };
})();
`;

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Herald browser tests</title>
<link rel="icon" href="data:,">
<script src="/NchanSubscriber.js"></script>
<script>${PAGE_SCRIPT}</script>
</head><body><p>Herald browser tests</p></body></html>
`;

function startStaticServer() {
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://page');
    const send = (status, type, body) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (pathname === '/') return send(200, 'text/html; charset=utf-8', PAGE_HTML);
    if (pathname === '/NchanSubscriber.js') return send(200, 'text/javascript; charset=utf-8', nchanSource);
    return send(404, 'text/plain', 'not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------
// Helpers for scenarios

class Fail extends Error {}

const clip = (s, n = 240) => (s.length > n ? s.slice(0, n) + '…' : s);
const oneLine = (s) => String(s).replace(/\r?\n/g, '⏎');
// eslint-disable-next-line no-control-regex
const noANSI = (s) => String(s).replace(/\x1b\[[0-9;]*m/g, '');
// The first line of an unexpected error (Playwright appends call and browser logs).
const errLine = (e) => clip(noANSI(`${e && e.name && e.name !== 'Error' ? e.name + ': ' : ''}${e && e.message ? e.message : e}`).split('\n')[0], 400);
const show = (body) => JSON.stringify(body);

async function publish(channel, body, { contentType = 'text/plain' } = {}) {
  const headers = {};
  let payload = body;
  if (contentType === null) payload = new TextEncoder().encode(body); // fetch sets no Content-Type
  else headers['Content-Type'] = contentType;
  let res, text;
  try {
    res = await fetch(`${HERALD}/pub/${channel}`, { method: 'POST', headers, body: payload, signal: AbortSignal.timeout(PUBLISH_MS) });
    text = await res.text();
  } catch (e) {
    throw new Fail(`publish to ${channel}: ${e.name === 'TimeoutError' ? `no answer within ${PUBLISH_MS / 1000} s` : fetchError(e)}`);
  }
  if (res.status !== 201 && res.status !== 202) throw new Fail(`publish to ${channel}: HTTP ${res.status} ${oneLine(clip(text, 200))}`);
  const m = /last message id: (\S+)/.exec(text);
  if (!m) throw new Fail(`publish to ${channel}: no "last message id:" in the response ${JSON.stringify(clip(text, 200))}`);
  return { channel, body, id: m[1], status: res.status };
}

function fetchError(e) {
  const cause = e && e.cause ? ` (${e.cause.code || e.cause.message || e.cause})` : '';
  return `${e && e.message ? e.message : e}${cause}`;
}

// Checks Herald answers at all (channel info: 200 or 404), so that an absent
// or hung server fails the run at once rather than every scenario in turn.
async function checkHerald() {
  const url = `${HERALD}/pub/${RUN_ID}-probe`;
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(PUBLISH_MS) });
    await res.arrayBuffer();
  } catch (e) {
    return `GET ${url}: ${e.name === 'TimeoutError' ? `no answer within ${PUBLISH_MS / 1000} s` : fetchError(e)}`;
  }
  if (res.status !== 200 && res.status !== 404) return `GET ${url}: HTTP ${res.status}, want 200 or 404 (is this Herald with its built-in configuration?)`;
  return null;
}

// A scenario's view of its page.
class Scenario {
  constructor(name, page) {
    this.name = name;
    this.page = page;
    this.console = [];
    this.n = 0;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') this.console.push(`[${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => this.console.push(`[uncaught] ${e.message}`));
  }

  channel(suffix = '') {
    this.n++;
    return `${RUN_ID}-${this.name}-${this.n}${suffix}`;
  }

  call(fn, ...args) {
    return this.page.evaluate(({ fn, args }) => window.T[fn](...args), { fn, args });
  }

  // Builds a failure reason carrying what the page saw.
  fail(msg, snap) {
    const parts = [msg];
    if (snap && snap.msgs) parts.push(`received ${describeMsgs(snap.msgs)}`);
    if (snap && snap.log && snap.log.length) parts.push(`events: ${snap.log.slice(-6).join(' | ')}`);
    const cons = [...new Set(this.console)].slice(-3).map((s) => clip(s, 300));
    if (cons.length) parts.push(`browser console: ${cons.join(' | ')}`);
    return new Fail(oneLine(parts.join('; ')));
  }

  async wait(name, cond, what) {
    const snap = await this.call('wait', name, cond, WAIT_MS);
    if (!snap.met) {
      const nothing = cond.open
        ? `no open/connect event within ${WAIT_MS / 1000} s (the server has not answered)`
        : `not received within ${WAIT_MS / 1000} s`;
      throw this.fail(`${what}: ${snap.fatal ? snap.fatal : nothing}`, snap);
    }
    return snap;
  }

  waitOpen(name, what = 'connect') {
    return this.wait(name, { open: true }, what);
  }

  // Waits for the message with body `last`, then checks the messages received
  // from index `from` on are exactly `want` (bodies and, if checkIds, ids).
  async expectMessages(name, want, { from = 0, checkIds = true, what = 'messages' } = {}) {
    const last = want[want.length - 1];
    const snap = await this.wait(name, { data: last.body, count: from + want.length + 5 }, `waiting for ${what} (${show(last.body)})`);
    const got = snap.msgs.slice(from);
    const wantDesc = want.map((p) => show(p.body) + (checkIds ? `@${p.id}` : '')).join(', ');
    const gotDesc = got.map((m) => show(m.data) + (checkIds ? `@${m.id}` : '')).join(', ');
    const same = got.length === want.length && got.every((m, i) => m.data === want[i].body && (!checkIds || m.id === want[i].id));
    if (!same) throw this.fail(`${what}: got [${gotDesc}], want [${wantDesc}]`, { log: snap.log });
    return snap;
  }
}

function describeMsgs(msgs) {
  if (!msgs.length) return 'no messages';
  const shown = msgs.slice(-6).map((m) => show(m.data) + (m.id ? `@${m.id}` : ''));
  return `${msgs.length} message(s): ${msgs.length > 6 ? '…, ' : ''}${shown.join(', ')}`;
}

// Checks a multiplexed id: `<time>:<tags>`, one tag per channel, only the
// channel that published (index) bracketed, with that message's time and tag.
function checkMultiplexedId(got, pub, index, nchannels) {
  const [ptime, ptag] = pub.id.split(':');
  const m = /^(\d+):(.+)$/.exec(got || '');
  if (!m) return `id ${JSON.stringify(got)} is not <time>:<tags>`;
  const tags = m[2].split(',');
  if (m[1] !== ptime) return `id ${got} for ${show(pub.body)} has time ${m[1]}, want ${ptime} (published as ${pub.id})`;
  if (tags.length !== nchannels) return `id ${got} has ${tags.length} tags, want ${nchannels}`;
  const bracketed = tags.map((t, i) => (/^\[.*\]$/.test(t) ? i : -1)).filter((i) => i >= 0);
  if (bracketed.length !== 1 || bracketed[0] !== index || tags[index] !== `[${ptag}]`) {
    return `id ${got} for ${show(pub.body)} should bracket tag ${ptag} at position ${index} (published as ${pub.id})`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Scenarios

const subURL = (ch) => `${HERALD}/sub/${ch}`;
const wsURL = (ch) => `${HERALD_WS}/sub/${ch}`;

// a. Native EventSource: three messages (one buffered before connecting, two
// live) in order, lastEventId = Herald's message ids.
async function nativeEventSource(t) {
  const ch = t.channel();
  const p1 = await publish(ch, 'first');
  await t.call('eventSource', 'es', subURL(ch));
  await t.waitOpen('es', 'EventSource open');
  const p2 = await publish(ch, 'second\nsecond line');
  const p3 = await publish(ch, 'third ✓ é');
  const snap = await t.expectMessages('es', [p1, p2, p3], { what: 'EventSource messages' });
  if (snap.reconnects) throw t.fail(`the stream ended ${snap.reconnects} time(s) and the browser reconnected; it should stay open`, snap);
}

// b. Native EventSource resume: close after 2 messages, 2 are published
// meanwhile, a new EventSource with ?last_event_id= gets exactly those.
async function nativeEventSourceResume(t) {
  const ch = t.channel();
  const p1 = await publish(ch, 'one');
  await t.call('eventSource', 'es1', subURL(ch));
  await t.waitOpen('es1', 'first EventSource open');
  const p2 = await publish(ch, 'two');
  const snap = await t.expectMessages('es1', [p1, p2], { what: 'first EventSource messages' });
  const lastId = snap.msgs[1].id;
  await t.call('close', 'es1');
  const p3 = await publish(ch, 'three');
  const p4 = await publish(ch, 'four');
  // withCredentials: Herald must answer with the exact Origin and
  // Access-Control-Allow-Credentials: true for this to be allowed.
  await t.call('eventSource', 'es2', `${subURL(ch)}?last_event_id=${encodeURIComponent(lastId)}`, { withCredentials: true });
  await t.waitOpen('es2', 'resumed EventSource (withCredentials) open');
  const p5 = await publish(ch, 'five');
  await t.expectMessages('es2', [p3, p4, p5], { what: `messages after resuming from ${lastId}` });
}

// c1. Native WebSocket without subprotocol: text frames holding the bodies.
async function nativeWebSocket(t) {
  const ch = t.channel();
  const p1 = await publish(ch, 'first');
  await t.call('webSocket', 'ws', wsURL(ch));
  const open = await t.waitOpen('ws', 'WebSocket open');
  if (open.protocol !== '') throw t.fail(`negotiated subprotocol "${open.protocol}", none was requested`, open);
  const p2 = await publish(ch, 'second\nline');
  const p3 = await publish(ch, 'third ✓');
  const snap = await t.wait('ws', { count: 3 }, 'waiting for 3 frames');
  const want = [p1, p2, p3];
  const frames = snap.msgs;
  const bad = frames.length !== 3 || frames.some((f, i) => f.binary || f.raw !== want[i].body);
  if (bad) {
    const got = frames.map((f) => (f.binary ? 'binary ' : '') + show(f.raw)).join(', ');
    throw t.fail(`frames [${got}], want text frames [${want.map((p) => show(p.body)).join(', ')}]`, { log: snap.log });
  }
}

// c2. Native WebSocket with ws+meta.nchan: every frame is
// "id: <msgid>\n" ["content-type: <ct>\n"] "\n" <body>.
async function nativeWebSocketMeta(t) {
  const ch = t.channel();
  const p1 = await publish(ch, 'alpha', { contentType: 'text/x-herald-test' });
  await t.call('webSocket', 'ws', wsURL(ch), 'ws+meta.nchan');
  const open = await t.waitOpen('ws', 'WebSocket (ws+meta.nchan) open');
  if (open.protocol !== 'ws+meta.nchan') throw t.fail(`negotiated subprotocol "${open.protocol}", want "ws+meta.nchan"`, open);
  const p2 = await publish(ch, 'beta', { contentType: null }); // no content type: the line is optional
  const p3 = await publish(ch, 'gamma\ndelta', { contentType: 'text/plain' });
  const snap = await t.wait('ws', { count: 3 }, 'waiting for 3 frames');
  const wantCT = ['text/x-herald-test', undefined, 'text/plain'];
  const want = [p1, p2, p3];
  const problems = [];
  if (snap.msgs.length !== 3) problems.push(`got ${snap.msgs.length} frames, want 3`);
  snap.msgs.slice(0, 3).forEach((f, i) => {
    const p = want[i];
    if (f.binary) problems.push(`frame ${i + 1} is binary, want text`);
    const exact = (ct) => `id: ${p.id}\n${ct ? `content-type: ${ct}\n` : ''}\n${p.body}`;
    const ok = wantCT[i] ? f.raw === exact(wantCT[i]) : f.raw === exact(null) || (f.ct !== null && f.raw === exact(f.ct));
    if (!ok) {
      problems.push(`frame ${i + 1} is ${show(f.raw)}, want ${show(exact(wantCT[i] || null))}` +
        (wantCT[i] ? '' : ' (a content-type line is allowed)'));
    }
  });
  if (problems.length) throw t.fail(problems.join('; '), { log: snap.log });
}

// d1. NchanSubscriber on one transport: messages with the right meta.id;
// stop(), two publishes, start() resumes from lastMessageId with exactly those.
async function nchanStopStart(t, transport) {
  const ch = t.channel();
  const url = subURL(ch);
  const p1 = await publish(ch, 'first', { contentType: 'text/x-herald-test' });
  await t.call('nchan', 's', url, { subscriber: transport });
  await t.waitOpen('s', `${transport} connect`);
  const p2 = await publish(ch, 'second\nline');
  const p3 = await publish(ch, 'third ✓');
  const snap = await t.expectMessages('s', [p1, p2, p3], { what: `${transport} messages` });
  if (transport !== 'eventsource' && snap.msgs[0].ct !== 'text/x-herald-test') {
    throw t.fail(`meta content-type of ${show(p1.body)} is ${JSON.stringify(snap.msgs[0].ct)}, want "text/x-herald-test"`, snap);
  }
  const st = await t.call('stop', 's', WAIT_MS);
  if (!st.ok) throw t.fail(`the ${transport} transport did not close within ${WAIT_MS / 1000} s of stop()`, st);
  if (st.lastMessageId !== p3.id) throw t.fail(`lastMessageId after stop() is ${st.lastMessageId}, want ${p3.id}`, st);
  const p4 = await publish(ch, 'fourth (missed)');
  const p5 = await publish(ch, 'fifth (missed)');
  await t.call('start', 's');
  const p6 = await publish(ch, 'sixth (after restart)');
  await t.expectMessages('s', [p4, p5, p6], { from: 3, what: `messages after stop()/start() from ${p3.id}` });
}

// d2. NchanSubscriber on /sub/A,B: messages from both channels in publish
// order, each with a multiplexed id naming its channel.
async function nchanMultiplex(t, transport) {
  const base = t.channel();
  const A = `${base}a`;
  const B = `${base}b`;
  const a1 = await publish(A, 'a1');
  await t.call('nchan', 's', `${HERALD}/sub/${A},${B}`, { subscriber: transport });
  await t.waitOpen('s', `${transport} connect`);
  const b1 = await publish(B, 'b1');
  const a2 = await publish(A, 'a2');
  const b2 = await publish(B, 'b2');
  const want = [a1, b1, a2, b2];
  const snap = await t.expectMessages('s', want, { checkIds: false, what: `multiplexed ${transport} messages` });
  const idProblems = want.map((p, i) => checkMultiplexedId(snap.msgs[i].id, p, p.channel === A ? 0 : 1, 2)).filter(Boolean);
  if (idProblems.length) throw t.fail(idProblems.join('; '), { log: snap.log });
}

// d3. NchanSubscriber with reconnect: 'session': a page reload resumes from
// the id kept in sessionStorage, without loss or repeats.
async function nchanReload(t, transport) {
  const ch = t.channel();
  const url = subURL(ch);
  const opts = { subscriber: transport, reconnect: 'session' };
  const key = `NchanSubscriber:${url}:lastMessageId`;
  const p1 = await publish(ch, 'before reload 1');
  await t.call('nchan', 's', url, opts);
  await t.waitOpen('s', `${transport} connect`);
  const p2 = await publish(ch, 'before reload 2');
  await t.expectMessages('s', [p1, p2], { what: `${transport} messages before the reload` });
  const saved = await t.call('session', key);
  if (saved !== p2.id) throw t.fail(`sessionStorage ${key} is ${JSON.stringify(saved)}, want ${p2.id}`);
  await t.page.reload({ waitUntil: 'load', timeout: WAIT_MS });
  const p3 = await publish(ch, 'during reload 3');
  const p4 = await publish(ch, 'during reload 4');
  const resumeFrom = await t.call('nchan', 's', url, opts);
  if (resumeFrom !== p2.id) throw t.fail(`after the reload NchanSubscriber starts from ${JSON.stringify(resumeFrom)}, want ${p2.id}`);
  const p5 = await publish(ch, 'after reload 5');
  await t.expectMessages('s', [p3, p4, p5], { what: `messages after the reload (resuming from ${p2.id})` });
}

const TRANSPORTS = ['websocket', 'eventsource', 'longpoll'];
const scenarios = [
  ['native-eventsource', nativeEventSource],
  ['native-eventsource-resume', nativeEventSourceResume],
  ['native-websocket', nativeWebSocket],
  ['native-websocket-meta', nativeWebSocketMeta],
  ...TRANSPORTS.map((tr) => [`nchan-${tr}`, (t) => nchanStopStart(t, tr)]),
  ...TRANSPORTS.map((tr) => [`nchan-${tr}-multiplex`, (t) => nchanMultiplex(t, tr)]),
  ...TRANSPORTS.map((tr) => [`nchan-${tr}-reload-session`, (t) => nchanReload(t, tr)]),
].filter(([name]) => !only || only.test(name));

// ---------------------------------------------------------------------------
// Running

function report(name, ok, reason) {
  results.push({ name, ok, reason });
  console.log(ok ? `ok ${name}` : `FAIL ${name}: ${reason}`);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Fail(what)), ms);
  });
  promise.catch(() => {}); // it may settle after the timeout
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runScenario(context, pageURL, name, fn) {
  if (interrupted) return report(name, false, `not run: interrupted by ${interrupted}`);
  const remaining = RUN_MS - CLEANUP_RESERVE_MS - (Date.now() - started);
  if (remaining < 2_000) return report(name, false, `not run: the run's ${RUN_MS / 1000} s budget is used up`);
  const limit = Math.min(SCENARIO_MS, remaining);
  let page = null;
  let t = null;
  try {
    const body = async () => {
      page = await context.newPage();
      t = new Scenario(name, page);
      await page.goto(pageURL, { waitUntil: 'load', timeout: WAIT_MS });
      await fn(t);
    };
    await withTimeout(body(), limit, `timed out after ${limit / 1000} s`);
    report(name, true);
  } catch (e) {
    let reason;
    if (interrupted) reason = `interrupted by ${interrupted}`;
    else if (e instanceof Fail) reason = e.message;
    else reason = t ? t.fail(errLine(e)).message : errLine(e);
    report(name, false, oneLine(reason));
  } finally {
    if (page) await withTimeout(page.close(), WAIT_MS, 'page close').catch(() => {});
  }
}

let context = null;
let server = null;
let interrupted = null; // the signal that stopped the run
let userDataDir = null;
let cleaning = null;

function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (context) await withTimeout(context.close(), 10_000, 'browser close').catch((e) => console.error(`# closing the browser: ${e.message}`));
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve()));
    }
    if (userDataDir) {
      try {
        fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
      } catch (e) {
        console.error(`# removing ${userDataDir}: ${e.message}`);
      }
    }
  })();
  return cleaning;
}

let summarized = false;
function summary() {
  if (summarized) return 1;
  summarized = true;
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    // Close the browser now; the scenario loop stops, the summary is printed
    // and the process exits 1 (or is made to, 12 s from now).
    console.error(`# ${sig}: closing the browser and stopping`);
    interrupted = sig;
    const hard = setTimeout(() => {
      summary();
      process.exit(1);
    }, 12_000);
    hard.unref();
    cleanup();
  });
}

// A last resort should something hang past every bound above.
const watchdog = setTimeout(() => {
  console.log(`FAIL run: still running after ${(RUN_MS + 15_000) / 1000} s; giving up`);
  results.push({ name: 'run', ok: false });
  summary();
  process.exit(1);
}, RUN_MS + 15_000);
watchdog.unref();

async function main() {
  server = await startStaticServer();
  const pageURL = `http://127.0.0.1:${server.address().port}/`;
  if (new URL(pageURL).origin === new URL(HERALD).origin) throw new Error('the test page must not share Herald\'s origin');
  console.log(`# herald ${HERALD}, test page ${pageURL} (cross-origin), run ${RUN_ID}`);

  const down = await checkHerald();
  if (down) {
    const reason = oneLine(`Herald at ${HERALD} is not usable: ${down}`);
    console.log(`FAIL herald: ${reason}`);
    results.push({ name: 'herald', ok: false, reason });
    for (const [name] of scenarios) report(name, false, 'not run: Herald is not usable');
    return;
  }

  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    const reason = oneLine(`Chromium (${CHROMIUM}) did not start: ${errLine(e)}`);
    console.log(`FAIL browser: ${reason}`);
    results.push({ name: 'browser', ok: false, reason });
    for (const [name] of scenarios) report(name, false, 'not run: the browser did not start');
    return;
  }
  for (const [name, fn] of scenarios) await runScenario(context, pageURL, name, fn);
}

let code = 1;
try {
  await main();
} catch (e) {
  console.log(`FAIL run: ${oneLine(errLine(e))}`);
  results.push({ name: 'run', ok: false });
} finally {
  await cleanup();
  code = summary() || interrupted ? 1 : 0;
}
process.exit(code);
