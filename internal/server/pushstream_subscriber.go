package server

import (
	"net/http"

	"github.com/heraldpush/herald/internal/route"
)

// psSubscriber serves a push-stream subscriber location
// (push_stream_subscriber).
func (s *Server) psSubscriber(w http.ResponseWriter, q *route.Request) {
	plainError(w, http.StatusNotImplemented, "Push-stream subscribers are not served yet.")
}
