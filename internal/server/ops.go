package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/accesslog"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// This file holds what operators read: the metrics collector (started
// once a metrics location is configured), health checks, the access log,
// and the store-call and refusal events they are fed from.

// applyOps puts cfg's access log and metrics in force: at New, and again
// at each Reload (a changed access log is opened anew and the old one
// closed; the metrics start with the first metrics location and then
// stay).
func (s *Server) applyOps(cfg *config.Config) error {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	if err := s.applyAccessLog(cfg); err != nil {
		return err
	}
	if s.metrics.Load() == nil && hasMetrics(cfg) {
		s.metrics.Store(metrics.New(metrics.Options{
			Bus: s.events, Stats: s.Stats, Stores: func() []store.Store { return s.stores },
			AccessLog: s.accessLogCounts, Version: Version, NchanVersion: NchanVersion,
		}))
	}
	return nil
}

func hasMetrics(cfg *config.Config) bool {
	for _, sc := range cfg.Servers {
		for _, l := range sc.Locations {
			if l.Metrics {
				return true
			}
		}
	}
	return false
}

// applyAccessLog opens the access log cfg asks for, unless it is the one
// open now.
func (s *Server) applyAccessLog(cfg *config.Config) error {
	want := accessLogKey{cfg.AccessLog, cfg.AccessLogFormat, cfg.AccessLogStreamFormat}
	if want == s.alogKey && (s.alog.Load() != nil) == (cfg.AccessLog != "") {
		return nil
	}
	var next *accesslog.Logger
	if cfg.AccessLog != "" {
		f, err := accesslog.Compile(cfg.AccessLogFormat)
		if err != nil {
			return fmt.Errorf("access_log_format: %w", err)
		}
		sf, err := accesslog.Compile(cfg.AccessLogStreamFormat)
		if err != nil {
			return fmt.Errorf("access_log_stream_format: %w", err)
		}
		if next, err = accesslog.Open(accesslog.Options{Path: cfg.AccessLog, Stderr: s.stderr, Format: f,
			StreamFormat: sf, Logger: s.log}); err != nil {
			return err
		}
	}
	if old := s.alog.Swap(next); old != nil {
		// Requests and streams still running keep writing to the old
		// log; it stays open until Stop.
		s.oldLogs = append(s.oldLogs, old)
	}
	s.alogKey = want
	return nil
}

// accessLogKey is what identifies an open access log.
type accessLogKey struct{ path, format, stream string }

// accessLogCounts returns the lines the access logs wrote and dropped.
func (s *Server) accessLogCounts() (written, dropped uint64) {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	for _, l := range append([]*accesslog.Logger{s.alog.Load()}, s.oldLogs...) {
		if l != nil {
			written += l.Written()
			dropped += l.Dropped()
		}
	}
	return written, dropped
}

// ReopenLogs reopens the access log's file (after log rotation moved it).
func (s *Server) ReopenLogs() error {
	if l := s.alog.Load(); l != nil {
		if err := l.Reopen(); err != nil {
			return fmt.Errorf("reopen access log: %w", err)
		}
	}
	return nil
}

// closeOps stops the metrics and closes the access logs.
func (s *Server) closeOps() {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	if m := s.metrics.Load(); m != nil {
		m.Close()
	}
	if l := s.alog.Swap(nil); l != nil {
		l.Close()
	}
	for _, l := range s.oldLogs {
		l.Close()
	}
	s.oldLogs = nil
}

// Metrics returns the metrics collector, nil while no metrics location was
// configured.
func (s *Server) Metrics() *metrics.Collector { return s.metrics.Load() }

// serveMetrics answers a metrics location.
func (s *Server) serveMetrics(w http.ResponseWriter, q *route.Request) {
	m := s.metrics.Load()
	if m == nil {
		plainError(w, http.StatusServiceUnavailable, "Metrics are not running.")
		return
	}
	m.ServeHTTP(w, q.HTTP)
}

// Readiness is what a ready health check found.
type Readiness struct {
	Ready bool `json:"ready"`
	// Listening reports that every listener is open and serving, and the
	// server is not shutting down.
	Listening bool `json:"listening"`
	// Stores are the stores with a backend, and whether each is reachable.
	Stores []StoreReadiness `json:"stores,omitempty"`
}

// StoreReadiness is one store's part of a readiness check.
type StoreReadiness struct {
	Store     string `json:"store"`
	Reachable bool   `json:"reachable"`
}

// Ready checks readiness: listeners open, not shutting down, every store
// reachable.
func (s *Server) Ready() Readiness {
	var r Readiness
	s.mu.Lock()
	r.Listening = s.started && len(s.endpoints) > 0
	s.mu.Unlock()
	select {
	case <-s.quit:
		r.Listening = false
	default:
	}
	r.Ready = r.Listening
	n := 0
	for _, st := range s.stores {
		hr, ok := st.(store.HealthReporter)
		if !ok {
			continue
		}
		n++
		name := "redis" + strconv.Itoa(n)
		if sn, ok := st.(fmt.Stringer); ok {
			name = sn.String()
		}
		ok = hr.Health().Reachable
		r.Stores = append(r.Stores, StoreReadiness{Store: name, Reachable: ok})
		r.Ready = r.Ready && ok
	}
	return r
}

// serveHealth answers a health location: live answers 200 while the
// server serves; ready answers 200 when Ready, 503 otherwise.
func (s *Server) serveHealth(w http.ResponseWriter, q *route.Request) {
	r := q.HTTP
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use GET.")
		return
	}
	status, text := http.StatusOK, "ok\n"
	var body any = map[string]bool{"live": true}
	if q.Route.Health == config.HealthReady {
		rd := s.Ready()
		body = rd
		if !rd.Ready {
			status, text = http.StatusServiceUnavailable, "not ready\n"
		}
	}
	ct := "text/plain"
	b := []byte(text)
	if wantsJSON(r.Header.Get("Accept")) {
		b, _ = json.Marshal(body)
		b = append(b, '\n')
		ct = "application/json"
	}
	hd := w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		w.Write(b)
	}
}

func wantsJSON(accept string) bool {
	return strings.Contains(strings.ToLower(accept), "application/json")
}

// hookCalled reports a request an application hook sent.
func (s *Server) hookCalled(name string, status int, took time.Duration) {
	s.emit(events.Event{Kind: events.HookCalled, Reason: name, Status: status, Duration: took})
}

// opStart returns the start of a store call to report, or the zero time
// when nobody reads store calls.
func (s *Server) opStart() time.Time {
	if !s.events.Wants(events.StoreOp) {
		return time.Time{}
	}
	return time.Now()
}

// storeOp reports a store call that began at start and took took (when
// it is 0, the time since start); nothing when start is zero. Errors that
// answer the client (not found, conflict, ...) are not the store failing
// and are reported as successes.
func (s *Server) storeOp(op string, rt *route.Route, start time.Time, err error, took time.Duration) {
	if start.IsZero() {
		return
	}
	if took == 0 {
		took = time.Since(start)
	}
	if err != nil && storeError(err).status < 500 {
		err = nil
	}
	s.emit(events.Event{Kind: events.StoreOp, Reason: op, Location: rt.Name, Duration: took, Err: err})
}

// logWriter is a response writer that notes what the access log reports:
// the status and the bytes of the body.
type logWriter struct {
	http.ResponseWriter
	r      *http.Request
	log    *accesslog.Logger
	start  time.Time
	status int
	bytes  int64
	stream bool // a stream logs its own lines (streamLog)
}

func (lw *logWriter) WriteHeader(code int) {
	if lw.status == 0 && code >= 200 {
		lw.status = code
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *logWriter) Write(b []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	n, err := lw.ResponseWriter.Write(b)
	lw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (lw *logWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// done writes the request's line, unless it is a stream's.
func (lw *logWriter) done(now time.Time) {
	if lw.stream {
		return
	}
	st := lw.status
	if st == 0 {
		st = http.StatusOK
		if route.IsWebSocketUpgrade(lw.r) {
			st = http.StatusSwitchingProtocols // a hijacked WebSocket publisher
		}
	}
	lw.log.Log(&accesslog.Entry{Request: lw.r, Time: now, Status: st, BodyBytes: lw.bytes, Duration: now.Sub(lw.start)})
}

// streamLog is a stream's access log: its first line is written when it
// starts, its last when it ends, with the messages and bytes it was sent.
type streamLog struct {
	log       *accesslog.Logger
	r         *http.Request
	transport string
	status    int
	start     time.Time
	// messages and bytes count what the session's writer sent; they are
	// read at its end, which may run on another goroutine.
	messages, bytes atomic.Int64
}

// sent counts n messages of size bytes written to the stream.
func (l *streamLog) sent(n, bytes int) {
	l.messages.Add(int64(n))
	l.bytes.Add(int64(bytes))
}

// startStreamLog makes a stream of an admitted subscriber's request, if it
// is logged: its first line goes out now.
func (s *Server) startStreamLog(w http.ResponseWriter, ss *session, ws bool) {
	lw, ok := w.(*logWriter)
	if !ok {
		return
	}
	lw.stream = true
	status := http.StatusOK
	if ws {
		status = http.StatusSwitchingProtocols
	}
	now := s.now()
	lw.log.Log(&accesslog.Entry{Request: lw.r, Time: now, Status: status, Duration: now.Sub(lw.start), Transport: ss.kind})
	ss.alog = &streamLog{log: lw.log, r: lw.r, transport: ss.kind, status: status, start: lw.start}
}

// ended writes a stream's last line.
func (l *streamLog) ended(now time.Time) {
	l.log.LogStreamEnd(&accesslog.Entry{Request: l.r, Time: now, Status: l.status, BodyBytes: l.bytes.Load(),
		Duration: now.Sub(l.start), Messages: l.messages.Load(), Transport: l.transport})
}

// bufsLen is the size of a write.
func bufsLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
