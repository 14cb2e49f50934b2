-- relay_fast (nostore mode with redis_nostore_fastpublish): send a
-- notice to the nodes that follow the channel, and nothing else. The key
-- is the channel's counts hash, named so a cluster runs the script on the
-- channel's slot; it is not read.
-- KEYS: counts
-- ARGV: pubsub channel, publish command (PUBLISH or SPUBLISH), payload
redis.call(ARGV[2], ARGV[1], ARGV[3])
return 0
