-- info: the channel's info after dropping expired messages.
-- KEYS: meta, stream, counts
-- ARGV: node id, local subscriber count
-- Returns {messages, subscribers, last requested ms, last id, now ms, 0,
-- messages expired, messages published, epoch}, or {} when there is no such channel.
local mkey, skey, nkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'lr', 'bl', 'mbl', 'np')
if not meta[1] then return {} end
local bl, mbl = tonumber(meta[4]) or 0, tonumber(meta[5]) or 0
local cap, keep = bufsize(bl, mbl)
local n, expired = trimexpired(skey, mkey, nowms, keep)
if bl <= 0 then n = 0 end
local subs = livesubs(nkey, nowms, ARGV[1]) + tonumber(ARGV[2])
return {n, subs, meta[3] or '0', meta[2] or '0-0', fmt(nowms), 0, expired, meta[6] or '0', meta[1]}
