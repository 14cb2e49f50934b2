package server

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/web/heraldjs"
)

// serveExtra serves what a location does besides its roles: a herald.v1
// WebSocket (websocket_multiplex, mux.go), a batch publish (publish_batch,
// batch.go), the browser client (herald_js) or a directory's files (root).
// The location's guard stages (origin, per-client limits) run first.
func (s *Server) serveExtra(w http.ResponseWriter, r *http.Request, rt *route.Route, caps []string) {
	q, rf := rt.Guard(r.Context(), r, caps)
	defer q.Done()
	q.SetCORS(w.Header())
	if rf != nil {
		s.refuse(w, q, rf)
		return
	}
	switch {
	case rt.Multiplex && wantsMux(r):
		s.multiplex(w, q)
	case rt.Batch && isBatch(r):
		s.publishBatch(w, q)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use GET, HEAD.")
	case rt.HeraldJS:
		serveHeraldJS(w, r)
	default:
		http.FileServer(http.Dir(rt.Root)).ServeHTTP(w, r)
	}
}

// serveHeraldJS answers with the browser client or its declarations,
// chosen by the path's end.
func serveHeraldJS(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch {
	case strings.HasSuffix(r.URL.Path, "herald.d.ts"):
		body = heraldjs.Types
		w.Header().Set("Content-Type", "application/typescript; charset=utf-8")
	case strings.HasSuffix(r.URL.Path, "herald.js"):
		body = heraldjs.JS
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	default:
		plainError(w, http.StatusNotFound, "herald_js serves herald.js and herald.d.ts.")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
