/*
 * herald.js: Herald's browser client. No dependencies; served by Herald on a
 * location with `herald_js: on`. See docs/browser-client.md.
 *
 *   const h = new Herald('/mux', {subscriberUrl: '/sub/{channel}', publisherUrl: '/pub/{channel}'});
 *   const sub = h.subscribe('room', (m) => console.log(m.channel, m.id, m.data), {from: 'start'});
 *   await h.publish('room', 'hello');
 *   sub.unsubscribe();
 *
 * Transports, in order of preference (option `transports`): 'websocket'
 * (Herald's multiplexed herald.v1 protocol: one connection for every
 * channel, subscriptions changed on the fly, publishing with an
 * acknowledgement), then 'eventsource' and 'longpoll' (one request per
 * channel, on subscriberUrl). A transport that fails before it ever
 * connects is given up for the next one; one that drops after it
 * connected is reconnected with backoff. Each subscription resumes from
 * the id of the last message it got, across reconnects and (with
 * `resume: 'local'` or 'session', the default 'local') across page loads.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.Herald = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var PROTOCOL = 'herald.v1';

  function resolveUrl(u, scheme) {
    var url = new URL(u, typeof location !== 'undefined' ? location.href : undefined);
    if (scheme === 'ws') url.protocol = url.protocol.replace(/^http/, 'ws');
    if (scheme === 'http') url.protocol = url.protocol.replace(/^ws/, 'http');
    return url;
  }

  function template(t, channel) {
    if (typeof t === 'function') return t(channel);
    return String(t).replace('{channel}', encodeURIComponent(channel));
  }

  function b64decode(s) {
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  function HeraldError(status, reason, channel) {
    var e = new Error(status + ' ' + reason);
    e.name = 'HeraldError';
    e.status = status;
    e.reason = reason;
    e.channel = channel;
    return e;
  }

  function Herald(url, options) {
    if (!(this instanceof Herald)) return new Herald(url, options);
    var o = options || {};
    this.url = url;
    this.options = o;
    this.transports = (o.transports || ['websocket', 'eventsource', 'longpoll']).slice();
    this.subscriberUrl = o.subscriberUrl || '/sub/{channel}';
    this.publisherUrl = o.publisherUrl || '/pub/{channel}';
    this.tokenParam = o.tokenParam || 'token';
    this.reconnectMin = o.reconnectMin || 250;
    this.reconnectMax = o.reconnectMax || 10000;
    this.storage = null;
    var resume = o.resume === undefined ? 'local' : o.resume;
    try {
      if (resume === 'local') this.storage = localStorage;
      else if (resume === 'session') this.storage = sessionStorage;
    } catch (e) { this.storage = null; }
    this.storagePrefix = 'herald:' + (o.storageKey || String(url)) + ':';
    this.subs = new Map();
    this.listeners = {};
    this.transport = null; // the transport in use: 'websocket', 'eventsource', 'longpoll' or null
    this.index = 0; // in this.transports
    this.ws = null;
    this.wsOpen = false;
    this.ref = 0;
    this.pending = new Map();
    this.backoff = this.reconnectMin;
    this.closed = false;
    this.timer = null;
    var self = this;
    Promise.resolve().then(function () { if (!self.closed && !self.transport) self._start(); });
  }

  Herald.PROTOCOL = PROTOCOL;
  Herald.HeraldError = HeraldError;

  Herald.prototype.on = function (event, fn) {
    (this.listeners[event] = this.listeners[event] || []).push(fn);
    return this;
  };

  Herald.prototype.off = function (event, fn) {
    var l = this.listeners[event];
    if (l) this.listeners[event] = l.filter(function (f) { return f !== fn; });
    return this;
  };

  Herald.prototype._emit = function (event) {
    var args = Array.prototype.slice.call(arguments, 1);
    (this.listeners[event] || []).forEach(function (fn) {
      try { fn.apply(null, args); } catch (e) { setTimeout(function () { throw e; }); }
    });
  };

  Herald.prototype._token = function (channel, action, given) {
    if (given) return given;
    var t = this.options.token;
    if (typeof t === 'function') return t(channel, action);
    return t || undefined;
  };

  Herald.prototype._saved = function (channel) {
    if (!this.storage) return null;
    try { return this.storage.getItem(this.storagePrefix + channel); } catch (e) { return null; }
  };

  Herald.prototype._save = function (channel, id) {
    if (!this.storage) return;
    try { this.storage.setItem(this.storagePrefix + channel, id); } catch (e) { /* full or denied */ }
  };

  /** Forgets the saved position of a channel (the next subscribe starts from its `from`). */
  Herald.prototype.forget = function (channel) {
    if (!this.storage) return;
    try { this.storage.removeItem(this.storagePrefix + channel); } catch (e) { /* ignore */ }
  };

  /**
   * Subscribes to a channel. from: 'start', 'end' or a message id; a saved
   * position (resume) wins over it. Returns a Subscription.
   */
  Herald.prototype.subscribe = function (channel, onMessage, opts) {
    opts = opts || {};
    if (this.subs.has(channel)) throw new Error('herald: already subscribed to ' + channel);
    var self = this;
    var sub = {
      channel: channel,
      lastId: this._saved(channel) || null,
      from: opts.from,
      token: opts.token,
      onMessage: onMessage,
      onError: opts.onError,
      active: false,
      stop: null, // ends the HTTP transport's request
      unsubscribe: function () { self._unsubscribe(sub); }
    };
    this.subs.set(channel, sub);
    if (this.transport) this._join(sub);
    return sub;
  };

  Herald.prototype._unsubscribe = function (sub) {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    if (sub.stop) { sub.stop(); sub.stop = null; }
    if (this.transport === 'websocket' && this.wsOpen && sub.active) {
      this._request({op: 'unsubscribe', channel: sub.channel}).catch(function () {});
    }
    sub.active = false;
  };

  Herald.prototype._deliver = function (sub, m) {
    if (this.subs.get(sub.channel) !== sub) return;
    sub.lastId = m.id;
    this._save(sub.channel, m.id);
    try { sub.onMessage(m); } catch (e) { setTimeout(function () { throw e; }); }
  };

  Herald.prototype._subError = function (sub, err) {
    if (sub.onError) sub.onError(err); else this._emit('error', err);
  };

  /**
   * Publishes to a channel: over the multiplexed connection when it is
   * open, otherwise with fetch (POST publisherUrl). Resolves with
   * {id, status}; rejects with a HeraldError.
   */
  Herald.prototype.publish = function (channel, data, opts) {
    opts = opts || {};
    var token = this._token(channel, 'publish', opts.token);
    if (this.transport === 'websocket' && this.wsOpen) {
      var f = {op: 'publish', channel: channel};
      if (typeof data === 'string') f.data = data;
      else f.data_b64 = b64encode(data instanceof Uint8Array ? data : new Uint8Array(data));
      if (opts.contentType) f.content_type = opts.contentType;
      if (opts.event) f.event = opts.event;
      if (token) f.token = token;
      return this._request(f).then(function (ack) { return {id: ack.id, status: ack.status}; });
    }
    var url = resolveUrl(template(this.publisherUrl, channel), 'http');
    if (token) url.searchParams.set(this.tokenParam, token);
    var headers = {'Accept': 'application/json'};
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    else if (typeof data === 'string') headers['Content-Type'] = 'text/plain';
    if (opts.event) headers['X-EventSource-Event'] = opts.event;
    return fetch(url.toString(), {method: 'POST', body: data, headers: headers, credentials: this.options.credentials || 'same-origin'})
      .then(function (r) {
        return r.text().then(function (text) {
          if (!r.ok) throw HeraldError(r.status, text.trim() || r.statusText, channel);
          var id;
          try { id = JSON.parse(text).last_message_id; } catch (e) { /* not JSON */ }
          return {id: id, status: r.status};
        });
      });
  };

  /** Closes every connection; subscriptions end. */
  Herald.prototype.close = function () {
    this.closed = true;
    clearTimeout(this.timer);
    this._stopTransport();
    this.subs.clear();
    this.transport = null;
  };

  Herald.prototype._start = function () {
    if (this.closed) return;
    var t = this.transports[this.index];
    this.transport = t;
    this._emit('transport', t);
    if (t === 'websocket') this._openSocket();
    else {
      // A long-poll answers only when there is a message: it counts as
      // connected from its start, and falls back if a poll fails.
      if (t === 'longpoll') this._connected();
      this.subs.forEach(this._join.bind(this));
    }
  };

  Herald.prototype._stopTransport = function () {
    this.connectedNow = false;
    if (this.ws) {
      var ws = this.ws;
      this.ws = null;
      this.wsOpen = false;
      ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
      try { ws.close(); } catch (e) { /* ignore */ }
    }
    this.pending.forEach(function (p) { p.reject(HeraldError(0, 'connection closed')); });
    this.pending.clear();
    this.subs.forEach(function (sub) {
      sub.active = false;
      if (sub.stop) { sub.stop(); sub.stop = null; }
    });
  };

  // _failed is called when the transport in use fails. Before it ever
  // connected, the next transport is tried at once; after, the same one
  // again after a backoff.
  Herald.prototype._failed = function (everConnected) {
    if (this.closed) return;
    this._stopTransport();
    var self = this;
    if (!everConnected && this.index + 1 < this.transports.length) {
      this.index++;
      this._emit('fallback', this.transports[this.index]);
      this._start();
      return;
    }
    if (!everConnected) this.index = 0; // all failed: start over after the backoff
    var wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.reconnectMax);
    this.transport = null;
    this._emit('disconnect', wait);
    this.timer = setTimeout(function () { self._start(); }, wait);
  };

  Herald.prototype._connected = function () {
    this.connectedNow = true;
    this.backoff = this.reconnectMin;
    this.everConnected = true;
    this._emit('connect', this.transport);
  };

  // --- WebSocket (herald.v1) -------------------------------------------

  Herald.prototype._openSocket = function () {
    var self = this;
    var url = resolveUrl(this.url, 'ws');
    var tok = this._token(null, 'connect');
    if (tok) url.searchParams.set(this.tokenParam, tok);
    var ws;
    try {
      ws = new WebSocket(url.toString(), PROTOCOL);
    } catch (e) {
      setTimeout(function () { self._failed(false); });
      return;
    }
    var opened = false;
    this.ws = ws;
    ws.onopen = function () {
      if (ws.protocol !== PROTOCOL) { // the location does not speak herald.v1
        self._failed(false);
        return;
      }
      opened = true;
      self.wsOpen = true;
      self._connected();
      self.subs.forEach(self._join.bind(self));
    };
    ws.onclose = function () { if (self.ws === ws) self._failed(opened); };
    ws.onerror = function () { /* onclose follows */ };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      self._frame(f);
    };
  };

  Herald.prototype._request = function (f) {
    var self = this;
    return new Promise(function (resolve, reject) {
      if (!self.ws || !self.wsOpen) { reject(HeraldError(0, 'not connected', f.channel)); return; }
      f.ref = ++self.ref;
      self.pending.set(f.ref, {resolve: resolve, reject: reject});
      self.ws.send(JSON.stringify(f));
    });
  };

  Herald.prototype._frame = function (f) {
    switch (f.op) {
      case 'message': {
        var sub = this.subs.get(f.channel);
        if (!sub) return;
        var data = f.data;
        if (f.data_b64 !== undefined) data = b64decode(f.data_b64);
        this._deliver(sub, {channel: f.channel, id: f.id, data: data, contentType: f.content_type, event: f.event});
        return;
      }
      case 'ack':
      case 'pong': {
        var p = this.pending.get(f.ref);
        if (p) { this.pending.delete(f.ref); p.resolve(f); }
        return;
      }
      case 'error': {
        var q = this.pending.get(f.ref);
        var err = HeraldError(f.status, f.reason, f.channel);
        if (q) { this.pending.delete(f.ref); q.reject(err); } else this._emit('error', err);
        return;
      }
      case 'unsubscribed': {
        var s = this.subs.get(f.channel);
        if (!s) return;
        s.active = false;
        if (f.status === 503) { this._join(s); return; } // fell behind: resume from the last id
        this.subs.delete(f.channel);
        this._subError(s, HeraldError(f.status, f.reason, f.channel));
        return;
      }
    }
  };

  // --- Joining a channel on the transport in use -------------------------

  Herald.prototype._join = function (sub) {
    var t = this.transport;
    if (t === 'websocket') {
      if (!this.wsOpen) return; // joined on open
      var f = {op: 'subscribe', channel: sub.channel};
      var from = sub.lastId || sub.from;
      if (from) f.from = from;
      var tok = this._token(sub.channel, 'subscribe', sub.token);
      if (tok) f.token = tok;
      var self = this;
      sub.active = true;
      this._request(f).then(function (ack) {
        // The ack names where the subscription stands: after a lost
        // connection it resumes from there even if no message came.
        if (!sub.lastId && ack.id && self.subs.get(sub.channel) === sub) {
          sub.lastId = ack.id;
          self._save(sub.channel, ack.id);
        }
      }, function (err) {
        if (err.status === 0 || self.subs.get(sub.channel) !== sub) return; // the connection went: rejoined on reconnect
        sub.active = false;
        self.subs.delete(sub.channel);
        self._subError(sub, err);
      });
    } else if (t === 'eventsource') {
      this._eventSource(sub);
    } else if (t === 'longpoll') {
      this._longPoll(sub);
    }
  };

  Herald.prototype._httpUrl = function (sub) {
    var url = resolveUrl(template(this.subscriberUrl, sub.channel), 'http');
    if (sub.lastId) url.searchParams.set('last_event_id', sub.lastId);
    var tok = this._token(sub.channel, 'subscribe', sub.token);
    if (tok) url.searchParams.set(this.tokenParam, tok);
    return url;
  };

  Herald.prototype._eventSource = function (sub) {
    var self = this;
    var es = new EventSource(this._httpUrl(sub).toString(), {withCredentials: !!this.options.withCredentials});
    var opened = false;
    sub.active = true;
    sub.stop = function () { es.close(); };
    es.onopen = function () {
      if (!opened) { opened = true; self._connected(); }
    };
    var onEvent = function (ev) {
      self._deliver(sub, {channel: sub.channel, id: ev.lastEventId, data: ev.data, event: ev.type === 'message' ? undefined : ev.type});
    };
    es.onmessage = onEvent;
    // EventSource hands named events only to listeners of their name.
    (this.options.eventNames || []).forEach(function (name) { es.addEventListener(name, onEvent); });
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED) return; // the browser reconnects, with Last-Event-ID
      es.close();
      if (self.transport !== 'eventsource' || self.subs.get(sub.channel) !== sub) return;
      if (!opened) {
        // Nothing connected yet: the transport fails. Otherwise only this
        // channel's request was refused (EventSource does not say why):
        // report it and try again later.
        if (!self.connectedNow) { self._failed(false); return; }
        self._subError(sub, HeraldError(0, 'EventSource request refused', sub.channel));
        setTimeout(function () { if (self.transport === 'eventsource' && self.subs.get(sub.channel) === sub) self._eventSource(sub); }, self.reconnectMax);
        return;
      }
      // Reopen this channel alone, from its last id.
      setTimeout(function () { if (self.transport === 'eventsource' && self.subs.get(sub.channel) === sub) self._eventSource(sub); }, self.reconnectMin);
    };
  };

  Herald.prototype._longPoll = function (sub) {
    var self = this;
    var ctl = typeof AbortController !== 'undefined' ? new AbortController() : null;
    var stopped = false;
    var connected = false; // a poll of this channel was answered
    var etag = null, lastModified = null;
    sub.active = true;
    sub.stop = function () { stopped = true; if (ctl) ctl.abort(); };
    function next(delay) {
      if (stopped || self.transport !== 'longpoll') return;
      setTimeout(poll, delay || 0);
    }
    function poll() {
      if (stopped) return;
      var url = self._httpUrl(sub);
      var headers = {};
      if (lastModified) { headers['If-Modified-Since'] = lastModified; headers['If-None-Match'] = etag; url.searchParams.delete('last_event_id'); }
      fetch(url.toString(), {headers: headers, cache: 'no-store', signal: ctl ? ctl.signal : undefined, credentials: self.options.credentials || 'same-origin'})
        .then(function (r) {
          return r.text().then(function (body) {
            if (stopped) return;
            if (r.status === 200) {
              connected = true;
              lastModified = r.headers.get('Last-Modified');
              etag = r.headers.get('Etag');
              var id = lastModified && etag ? (Date.parse(lastModified) / 1000) + ':' + etag.replace(/"/g, '') : undefined;
              self._deliver(sub, {channel: sub.channel, id: id, data: body, contentType: r.headers.get('Content-Type') || undefined});
              next(0);
            } else if (r.status === 304 || r.status === 408) {
              connected = true;
              next(0);
            } else if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
              // Refused: this channel alone ends, with the answer's status.
              stopped = true;
              sub.active = false;
              if (self.subs.get(sub.channel) === sub) self.subs.delete(sub.channel);
              self._subError(sub, HeraldError(r.status, body.trim() || r.statusText, sub.channel));
            } else if (!connected) {
              self._failed(false);
            } else {
              next(self.reconnectMin);
            }
          });
        })
        .catch(function () {
          if (stopped) return;
          if (!connected) self._failed(false); else next(self.reconnectMin);
        });
    }
    poll();
  };

  return Herald;
});
