package server

// DashboardSampling reports whether the dashboard's sampler runs (some
// dashboard is open) and how many dashboards are open.
func (s *Server) DashboardSampling() (running bool, viewers int) {
	s.dash.mu.Lock()
	defer s.dash.mu.Unlock()
	return s.dash.sampler != nil, s.dash.viewers
}
