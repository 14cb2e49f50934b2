package server

import "github.com/heraldpush/herald/internal/route"

// PSClientEvent is psClientEvent, for the events channel's tests: what the
// subscriber side calls as push-stream subscribers join and leave.
func (s *Server) PSClientEvent(rt *route.Route, id string, joined bool) {
	s.psClientEvent(rt, id, joined)
}
