-- create: make the channel exist, authorized, with these options.
-- KEYS: meta, stream, counts
-- ARGV: buffer length, min buffer length, message timeout ms, channel timeout ms,
--   node id, local subscriber count
-- Returns {messages, subscribers, last requested ms, last id, now ms,
-- created (1 when this made the channel), messages expired, messages
-- published, epoch}.
local mkey, skey, nkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local bl, mbl, ct = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'lr', 'np')
local created = 0
local ep = meta[1]
if not ep then
  redis.call('DEL', skey)
  ep = newepoch(sec, usec)
  redis.call('HSET', mkey, 'ep', ep)
  created = 1
end
redis.call('HSET', mkey, 'a', '1', 'bl', ARGV[1], 'mbl', ARGV[2], 'mt', ARGV[3], 'ct', ARGV[4])
local cap, keep = bufsize(bl, mbl)
local n, expired = trimexpired(skey, mkey, nowms, keep)
n = trimto(skey, mkey, n, cap)
if bl <= 0 then n = 0 end
local subs = livesubs(nkey, nowms, ARGV[5]) + tonumber(ARGV[6])
keepfor(mkey, skey, nkey, math.max(ct, 1000), nowms, false)
return {n, subs, meta[3] or '0', meta[2] or '0-0', fmt(nowms), created, expired, meta[4] or '0', ep}
