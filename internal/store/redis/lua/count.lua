-- count (nostore mode): admit subscribers of this node under the rules
-- that need every node's count, and write the node's count (its liveness:
-- the entry expires unless renewed), or only read the others' counts.
-- KEYS: counts (node id -> "count expiresAtMs")
-- ARGV: node id, the node's count (-1: read only), max subscribers (0: no
--   limit), rule (b, f, l; '' writes without checking), node entry
--   lifetime ms, pubsub channel, publish command, eviction payload (sent
--   for rule l)
-- Returns {'ok', others}, {'toomany', others} or {'conflict', others}.
local nkey = KEYS[1]
local sec, usec, nowms = clock()
local node, count, max, rule = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local nodettl = tonumber(ARGV[5])
local others = livesubs(nkey, nowms, node)
if count < 0 then return {'ok', others} end
if rule ~= '' then
  if max > 0 and others + count > max then return {'toomany', others} end
  if rule == 'f' and others + count - 1 > 0 then return {'conflict', others} end
end
if count > 0 then
  redis.call('HSET', nkey, node, fmt(count) .. ' ' .. fmt(nowms + nodettl))
  local cur = redis.call('PTTL', nkey)
  if cur < 3 * nodettl then redis.call('PEXPIRE', nkey, 3 * nodettl) end
else
  redis.call('HDEL', nkey, node)
end
if rule == 'l' then redis.call(ARGV[7], ARGV[6], ARGV[8]) end
return {'ok', others}
