package server

import (
	"net/http"

	"github.com/heraldpush/herald/internal/route"
)

// psPublisher serves a push-stream publisher location
// (push_stream_publisher).
func (s *Server) psPublisher(w http.ResponseWriter, q *route.Request) {
	plainError(w, http.StatusNotImplemented, "Push-stream publishers are not served yet.")
}
