package redis

// Crash stops the store as a crashed node stops: without removing its
// subscriber counts from Redis (they expire after NodeTTL).
func (s *Store) Crash() { s.shutdown(false) }
