// Herald dashboard: reads a JSON snapshot every second from the event
// stream under this page (?events) and draws it. Plain JavaScript, no
// build step, no dependencies; charts are drawn on canvas.
'use strict';

(function () {
  const HISTORY = 600; // points kept (seconds), as the server keeps
  const points = [];
  const $ = (id) => document.getElementById(id);

  const fmt = new Intl.NumberFormat('en');
  function num(n) { return fmt.format(n); }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    const u = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
  }
  function clock(ms) { return new Date(ms).toLocaleTimeString([], { hour12: false }); }

  // One row of cells, each text only (never HTML: channel ids and messages
  // come from clients).
  function row(cells, classes) {
    const tr = document.createElement('tr');
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (classes && classes[i]) td.className = classes[i];
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  // ---- charts
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue('--' + name).trim() || '#888';
  const charts = [
    { el: $('chart-rates'), series: [['pub', 'pub'], ['del', 'del']] },
    { el: $('chart-lag'), series: [['lag_avg', 'lagavg'], ['lag_max', 'lagmax']] },
    { el: $('chart-subs'), series: [['subs', 'subs']] },
    { el: $('chart-mem'), series: [['mem', 'mem', 1 / 1048576], ['heap', 'heap', 1 / 1048576]] },
  ];

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function draw(chart) {
    const cv = chart.el;
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || cv.width, h = cv.clientHeight || cv.height;
    if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 44, right = 8, top = 8, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    const now = points.length ? points[points.length - 1].t : Date.now();
    const span = HISTORY * 1000, t0 = now - span;
    let max = 0;
    for (const p of points) for (const [k, , scale] of chart.series) {
      const v = p[k] * (scale || 1);
      if (v > max) max = v;
    }
    max = niceMax(max);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = color('muted');
    g.strokeStyle = color('grid');
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
      const label = max * i / 4;
      g.textAlign = 'right';
      g.fillText(label >= 100 ? Math.round(label) : +label.toFixed(2), left - 4, y + 4);
    }
    g.textAlign = 'left';
    g.fillText('-10 min', left, h - 4);
    g.textAlign = 'right';
    g.fillText('now', left + pw, h - 4);
    for (const [k, c, scale] of chart.series) {
      g.strokeStyle = color(c);
      g.lineWidth = 1.5;
      g.fillStyle = color(c);
      g.beginPath();
      // A point with no drawn neighbour (after a gap, or the first) gets a
      // dot, so a lone second shows.
      const xy = (p) => [left + ((p.t - t0) / span) * pw, top + ph - (p[k] * (scale || 1) / max) * ph];
      const joined = (a, b) => a && b && a[k] >= 0 && b[k] >= 0 && b.t - a.t <= 2500;
      points.forEach((p, i) => {
        if (p[k] < 0) return;
        const [x, y] = xy(p);
        if (joined(points[i - 1], p)) g.lineTo(x, y); else g.moveTo(x, y);
        if (!joined(points[i - 1], p) && !joined(p, points[i + 1])) g.fillRect(x - 1.5, y - 1.5, 3, 3);
      });
      g.stroke();
    }
  }
  function drawAll() { charts.forEach(draw); }
  window.addEventListener('resize', drawAll);

  // ---- snapshot
  let lastSnap = null;
  function show(s) {
    lastSnap = s;
    const st = s.status;
    $('version').textContent = 'v' + st.herald_version + ' (Nchan ' + st.nchan_version + ' protocol)';
    $('c-channels').textContent = num(st.channels);
    $('c-subscribers').textContent = num(st.subscribers);
    $('c-stored').textContent = num(st.stored_messages);
    $('c-published').textContent = num(st.total_published_messages);
    $('c-delivered').textContent = num(s.total_delivered_messages);
    $('c-memory').textContent = bytes(st.shared_memory_used_kb * 1024);
    $('c-memlimit').textContent = st.shared_memory_limit_kb ? 'of ' + bytes(st.shared_memory_limit_kb * 1024) : 'no limit';
    $('c-slow').textContent = num(st.slow_subscribers_disconnected);
    $('c-goroutines').textContent = num(s.goroutines) + ' goroutines';
    // After a reconnect the stream starts again with the whole history:
    // keep only what is newer than what the charts hold.
    for (const p of s.points) if (!points.length || p.t > points[points.length - 1].t) points.push(p);
    if (points.length > HISTORY) points.splice(0, points.length - HISTORY);
    const p = points[points.length - 1];
    if (p) {
      $('c-pubrate').textContent = p.pub + ' /s';
      $('c-delrate').textContent = p.del + ' /s';
      $('c-lag').textContent = p.lag_avg >= 0 ? p.lag_avg + ' ms' : '–';
      $('c-lagmax').textContent = p.lag_max >= 0 ? 'max ' + p.lag_max + ' ms' : 'nothing delivered';
      $('c-heap').textContent = bytes(p.heap);
    }
    const tr = Object.entries(s.transports).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    fill($('transports').tBodies[0], tr.length ? tr.map(([k, n]) => row([k, num(n)], [null, 'n'])) : [row(['none', ''])]);
    const redis = st.redis_connected_servers || st.redis_pending_commands || st.total_redis_commands_sent || st.redis_unhealthy_upstreams;
    fill($('redis').tBodies[0], redis ? [
      row(['connected servers', num(st.redis_connected_servers)], [null, 'n']),
      row(['unhealthy upstreams', num(st.redis_unhealthy_upstreams)], [null, st.redis_unhealthy_upstreams ? 'n bad' : 'n']),
      row(['pending commands', num(st.redis_pending_commands)], [null, 'n']),
      row(['commands sent', num(st.total_redis_commands_sent)], [null, 'n']),
      row(['channels lost', num(st.redis_channels_lost)], [null, st.redis_channels_lost ? 'n bad' : 'n']),
      row(['channels not followed', num(st.redis_channels_not_followed)], [null, 'n']),
      row(['losses / restores', num(st.redis_channel_losses) + ' / ' + num(st.redis_channel_restores)], [null, 'n']),
    ] : [row(['no Redis store in use', ''])]);
    const chans = s.channels || [];
    fill($('channels').tBodies[0], chans.map((c) => row([
      (c.group ? c.group + '/' : '') + c.id, num(c.messages), num(c.subscribers),
      c.last_published ? clock(c.last_published * 1000) + ' (' + c.last_message_id + ')' : '–',
    ], [null, 'n', 'n', null])));
    const notes = [];
    if (!chans.length) notes.push('no channels' + ($('prefix').value ? ' with this prefix' : ''));
    if (s.channels_more) notes.push('first ' + chans.length + ' shown');
    if (s.listing_unsupported) notes.push(s.listing_unsupported + ' store(s) cannot list channels');
    if (s.listing_error) notes.push('listing failed: ' + s.listing_error);
    $('channels-note').textContent = notes.join('; ');
    fill($('slow').tBodies[0], (s.slow || []).length ? s.slow.map((x) => row([
      clock(x.time), (x.group ? x.group + '/' : '') + x.channel, x.transport, x.remote,
    ])) : [row(['none', '', '', ''])]);
    drawAll();
  }

  // ---- event stream
  let es = null;
  function connect() {
    if (es) es.close();
    const u = new URL(location.href);
    u.search = '';
    u.searchParams.set('events', '1');
    const prefix = $('prefix').value;
    if (prefix) u.searchParams.set('prefix', prefix);
    points.length = 0; // the first snapshot of a stream carries the history
    es = new EventSource(u.toString());
    es.addEventListener('snapshot', (ev) => {
      $('conn').textContent = 'live';
      $('conn').className = 'conn up';
      try { show(JSON.parse(ev.data)); } catch (e) { console.error(e); }
    });
    es.onerror = () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'conn down'; };
  }
  let prefixTimer = null;
  $('prefix').addEventListener('input', () => {
    clearTimeout(prefixTimer);
    prefixTimer = setTimeout(connect, 300);
  });

  // ---- publish and watch
  let watch = null, watching = '', sentAt = new Map();
  function target(base, ch) {
    return new URL(base.replace(/\/?$/, '/') + encodeURIComponent(ch), location.href).toString();
  }
  function status(text) { $('pub-status').textContent = text; }
  function startWatch() {
    const ch = $('pub-channel').value.trim();
    if (!ch) { status('name a channel'); return Promise.resolve(false); }
    if (watch && watching === ch) return Promise.resolve(true);
    if (watch) watch.close();
    watching = ch;
    $('arrivals').tBodies[0].replaceChildren();
    return new Promise((resolve) => {
      const url = target($('sub-path').value, ch);
      watch = new EventSource(url);
      document.body.dataset.watching = '';
      status('connecting to ' + url + ' …');
      watch.onopen = () => { status('watching ' + ch); document.body.dataset.watching = ch; resolve(true); };
      watch.onerror = () => { status('subscription to ' + ch + ' failed or closed'); resolve(false); };
      watch.onmessage = (ev) => {
        const t = sentAt.get(ev.data);
        sentAt.delete(ev.data);
        const tb = $('arrivals').tBodies[0];
        tb.prepend(row([clock(Date.now()), ev.lastEventId, ev.data, t ? String(Math.round(performance.now() - t)) : ''], [null, null, 'msg', 'n']));
        while (tb.rows.length > 50) tb.deleteRow(tb.rows.length - 1);
      };
    });
  }
  $('watch').addEventListener('click', startWatch);
  $('publish').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!(await startWatch())) return;
    const ch = watching, body = $('pub-message').value;
    const url = target($('pub-path').value, ch);
    sentAt.set(body, performance.now());
    try {
      const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain', Accept: 'application/json' } });
      status('published to ' + ch + ': ' + res.status + ' ' + res.statusText);
    } catch (e) {
      status('publish failed: ' + e.message);
    }
  });

  connect();
})();
