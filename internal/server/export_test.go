package server

import "github.com/heraldpush/herald/internal/route"

// Routes returns the routes of server block i, for tests that look at a
// route's state (its limit tables).
func (s *Server) Routes(i int) []*route.Route { return (*s.blocks.Load())[i].router.routes }
