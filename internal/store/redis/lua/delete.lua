-- delete: remove the channel and tell every node, whose subscribers then
-- get "gone". The floor key remembers the last id, so a channel made again
-- continues past it, and the deleted epoch, so a node that missed the
-- notice still learns of the delete.
-- KEYS: meta, stream, counts, floor
-- ARGV: pubsub channel, publish command, node id, local subscriber count
-- Returns {messages, subscribers, last requested ms, last id, now ms, 0,
-- messages expired, messages published, epoch}, or {}.
local mkey, skey, nkey, fkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sec, usec, nowms = clock()
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'lr', 'bl', 'mbl', 'np')
if not meta[1] then return {} end
local bl, mbl = tonumber(meta[4]) or 0, tonumber(meta[5]) or 0
local cap, keep = bufsize(bl, mbl)
local n, expired = trimexpired(skey, mkey, nowms, keep)
if bl <= 0 then n = 0 end
local subs = livesubs(nkey, nowms, ARGV[3]) + tonumber(ARGV[4])
local f = redis.call('HMGET', fkey, 'fl', 'de')
local ft, fg = idparse(f[1])
local lt, lg = idparse(meta[2])
if idless(ft, fg, lt, lg) then redis.call('HSET', fkey, 'fl', meta[2]) end
if (tonumber(f[2]) or 0) < tonumber(meta[1]) then redis.call('HSET', fkey, 'de', meta[1]) end
redis.call('PEXPIRE', fkey, FLOORTTL)
redis.call('DEL', mkey, skey, nkey)
redis.call(ARGV[2], ARGV[1], 'd ' .. meta[1])
return {n, subs, meta[3] or '0', meta[2] or '0-0', fmt(nowms), 0, expired, meta[6] or '0', meta[1]}
