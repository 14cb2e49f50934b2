-- relay (nostore mode): send a notice to the nodes that follow the
-- channel, and return the subscribers the other nodes count on it.
-- KEYS: counts (the nodes' subscriber counts: node id -> "count expiresAtMs")
-- ARGV: pubsub channel, publish command (PUBLISH or SPUBLISH), payload, node id
-- Returns the other nodes' subscribers.
local nkey = KEYS[1]
local sec, usec, nowms = clock()
local others = livesubs(nkey, nowms, ARGV[4])
redis.call(ARGV[2], ARGV[1], ARGV[3])
return others
