-- groupstats: one channel's part of its group's counts, after dropping
-- expired messages (as info does).
-- KEYS: meta, stream, counts
-- ARGV: node id, local subscriber count, bytes each message counts besides
--   its body, content type and event name
-- Returns {messages, subscribers, message bytes, now ms, messages expired},
-- or {} when there is no such channel.
local mkey, skey, nkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local meta = redis.call('HMGET', mkey, 'ep', 'bl', 'mbl')
if not meta[1] then return {} end
local bl, mbl = tonumber(meta[2]) or 0, tonumber(meta[3]) or 0
local cap, keep = bufsize(bl, mbl)
local n, expired = trimexpired(skey, mkey, nowms, keep)
local bytes = 0
if bl <= 0 then
  n = 0
elseif n > 0 then
  local over = tonumber(ARGV[3])
  for _, e in ipairs(redis.call('XRANGE', skey, '-', '+')) do
    local f = e[2]
    bytes = bytes + over
    for i = 1, #f, 2 do
      local k = f[i]
      if k == 'b' or k == 'c' or k == 'e' then bytes = bytes + #f[i + 1] end
    end
  end
end
local subs = livesubs(nkey, nowms, ARGV[1]) + tonumber(ARGV[2])
return {n, subs, fmt(bytes), fmt(nowms), expired}
