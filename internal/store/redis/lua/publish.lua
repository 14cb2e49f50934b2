-- publish: store one message and notify every node, atomically.
-- KEYS: meta, stream, counts, floor
-- ARGV: body, content type, event, buffer length, min buffer length,
--   message timeout ms, channel timeout ms, token, hint id, pubsub channel,
--   publish command (PUBLISH or SPUBLISH), node id, local subscriber count,
--   WebSocket compression level (0: none), event id
-- Returns {id, seq, prev id, expires ms, epoch, messages, subscribers, now ms,
-- retried (1 when this token's publish was already done), last requested ms,
-- created (1 when this publish made the channel), messages expired, number}.
local mkey, skey, nkey, fkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sec, usec, nowms = clock()
local bl, mbl = tonumber(ARGV[4]), tonumber(ARGV[5])
local mt, ct = tonumber(ARGV[6]), tonumber(ARGV[7])
local tok = ARGV[8]
local cap, keep = bufsize(bl, mbl)
local ttl = mt
if bl <= 0 then ttl = INFLIGHT_TTL end

local meta = redis.call('HMGET', mkey, 'ep', 'l', 'lq', 'pt', 'pr', 'lr', 'fv', 'kx')
local ep = meta[1]
if ep and tok ~= '' and meta[4] == tok then
  -- The client retried a publish that was done: answer as the first time.
  local id, seq, prev, x, num = string.match(meta[5], '^(%S+) (%S+) (%S+) (%S+) ?(%S*)$')
  if num == '' then num = '0' end
  local n = redis.call('XLEN', skey)
  if bl <= 0 then n = 0 end
  local subs = livesubs(nkey, nowms, ARGV[12]) + tonumber(ARGV[13])
  return {id, seq, prev, x, ep, n, subs, fmt(nowms), 1, meta[6] or '0', 0, 0, num}
end
-- The first write: Redis refuses it when maxmemory is reached (it checks
-- only a script's first write), so a full Redis refuses the publish whole.
local num = fmt(redis.call('HINCRBY', mkey, 'np', 1))
local created = 0
if not ep then
  ep = newepoch(sec, usec)
  created = 1
  redis.call('DEL', skey)
end
local subs = livesubs(nkey, nowms, ARGV[12]) + tonumber(ARGV[13])

-- Drop expired messages (usually the oldest has not expired: one look),
-- then make room: XADD's MAXLEN drops the oldest, recorded as dropped.
local n = redis.call('XLEN', skey)
local fresh = n == 0 -- the XADD may make the stream (always so for a new channel): give it a lifetime
local expired = 0
local oldest = nil
if n > 0 then
  oldest = redis.call('XRANGE', skey, '-', '+', 'COUNT', 1)[1]
  local x = tonumber(oldest[2][2]) or 0
  if n > keep and x ~= 0 and x <= nowms then
    n, expired = trimexpired(skey, mkey, nowms, keep)
    oldest = nil
  end
end
local dropped = nil -- the newest id the XADD drops
if n >= cap then
  local over = n - cap + 1
  if over > 1 or not oldest then
    local old = redis.call('XRANGE', skey, '-', '+', 'COUNT', over)
    oldest = old[#old]
  end
  dropped = oldest[1]
  n = cap - 1
end

local prev = meta[2] or '0-0'
local lt, lg = idparse(meta[2])
local ft, fg = idparse(redis.call('HGET', fkey, 'fl'))
if idless(lt, lg, ft, fg) then lt, lg = ft, fg end
local ht, hg = idparse(ARGV[9])
if idless(lt, lg, ht, hg) then lt, lg = ht, hg end
local t, g
if sec > lt then
  t, g = sec, 0
elseif lg >= MAXTAG then
  t, g = lt + 1, 0
else
  t, g = lt, lg + 1
end
local id = idfmt(t, g)

local seq = sec * 1000000 + usec
local lq = tonumber(meta[3]) or 0
if seq <= lq then seq = lq + 1 end
seq = fmt(seq)
local x = '0'
if ttl > 0 then x = fmt(nowms + ttl) end

local z = ARGV[14] or '0'
local eid = ARGV[15] or ''
local fields = {'x', x, 'q', seq, 'c', ARGV[2], 'e', ARGV[3], 'b', ARGV[1], 'n', num}
if z ~= '0' then
  fields[#fields + 1] = 'z'
  fields[#fields + 1] = z
end
if eid ~= '' then
  fields[#fields + 1] = 'i'
  fields[#fields + 1] = eid
end
redis.call('XADD', skey, 'MAXLEN', cap, id, unpack(fields))
n = n + 1
local set = {'ep', ep, 'l', id, 'lq', seq, 'a', '1', 'bl', ARGV[4], 'mbl', ARGV[5],
  'mt', ARGV[6], 'ct', ARGV[7], 'pt', tok, 'pr', id .. ' ' .. seq .. ' ' .. prev .. ' ' .. x .. ' ' .. num}
if dropped then
  set[#set + 1] = 'd'
  set[#set + 1] = dropped
end
redis.call('HSET', mkey, unpack(set))

local need = -1
if bl <= 0 or mt > 0 then need = math.max(ttl, ct, 1000) end
-- The counts key is not extended here: the scripts that write counts give
-- it a lifetime longer than theirs.
extend(mkey, skey, nkey, need, nowms, meta[7], meta[8], fresh)
if bl <= 0 then n = 0 end

local hdr = table.concat({'m', ep, id, prev, seq, x, ARGV[4], ARGV[5], tostring(#ARGV[2]), tostring(#ARGV[3]), z, num, tostring(#eid)}, ' ')
redis.call(ARGV[11], ARGV[10], hdr .. '\n' .. ARGV[2] .. ARGV[3] .. eid .. ARGV[1])
return {id, seq, prev, x, ep, n, subs, fmt(nowms), 0, meta[6] or '0', created, expired, num}
