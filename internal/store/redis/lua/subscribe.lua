-- subscribe: admit one more subscriber of this node, enforcing the
-- existing-only, subscriber-limit and first/last rules across every node;
-- creates the channel (not authorized) if needed.
-- KEYS: meta, stream, counts
-- ARGV: node id, the node's count with the newcomer, max subscribers (0: no
--   limit), existing only (1/0), channel timeout ms, rule (b, f or l),
--   node entry lifetime ms, pubsub channel, publish command
-- Returns {'ok', epoch, last id, eviction number, now ms, created} or
-- {'notauth'}, {'toomany', created}, {'conflict', created}; created is 1 when
-- this made the channel.
local mkey, skey, nkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local node, count, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nodettl = tonumber(ARGV[7])
local meta = redis.call('HMGET', mkey, 'ep', 'a', 'l', 'ct')
local ep = meta[1]
if ARGV[4] == '1' and (not ep or meta[2] ~= '1') then return {'notauth'} end
local ct = tonumber(ARGV[5])
local created = 0
if not ep then
  created = 1
  ep = newepoch(sec, usec)
  redis.call('DEL', skey)
  redis.call('HSET', mkey, 'ep', ep, 'a', '0', 'ct', ARGV[5])
else
  ct = tonumber(meta[4]) or ct
end
local others = livesubs(nkey, nowms, node)
if max > 0 and others + count > max then return {'toomany', created} end
if ARGV[6] == 'f' and others + count - 1 > 0 then return {'conflict', created} end
redis.call('HSET', nkey, node, fmt(count) .. ' ' .. fmt(nowms + nodettl))
redis.call('HSET', mkey, 'lr', fmt(nowms))
local ev = '0'
if ARGV[6] == 'l' then
  ev = fmt(redis.call('HINCRBY', mkey, 'lv', 1))
  redis.call(ARGV[9], ARGV[8], 'v ' .. ep .. ' ' .. ev)
end
keepfor(mkey, skey, nkey, math.max(ct, 2 * nodettl, 1000), nowms, false)
return {'ok', ep, meta[3] or '0-0', ev, fmt(nowms), created}
