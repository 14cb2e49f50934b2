package server

import (
	"net/http"

	"github.com/heraldpush/herald/internal/route"
)

// psStatistics serves a push-stream channel statistics location
// (push_stream_channels_statistics).
func (s *Server) psStatistics(w http.ResponseWriter, q *route.Request) {
	plainError(w, http.StatusNotImplemented, "Push-stream statistics are not served yet.")
}
