-- backup_put (backup mode): copy one message of a channel (or only the
-- channel, for a create) that the node published, with the node's id for
-- it, in the distributed mode's layout. A message whose id is not after the
-- channel's last is left out, so a write retried after a lost connection
-- changes nothing.
-- KEYS: meta, stream, counts
-- ARGV: message id ('' for none), seq, expires ms (0 never), content type,
--   event, body, buffer length, min buffer length, message timeout ms,
--   channel timeout ms, WebSocket compression level (0 none), number in
--   the channel (0: none), event id
-- Returns the messages in the copy.
local mkey, skey, nkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local id = ARGV[1]
local bl, mbl = tonumber(ARGV[7]), tonumber(ARGV[8])
local mt, ct = tonumber(ARGV[9]), tonumber(ARGV[10])
local cap, keep = bufsize(bl, mbl)
local meta = redis.call('HMGET', mkey, 'ep', 'l')
if not meta[1] then
  redis.call('DEL', skey)
  redis.call('HSET', mkey, 'ep', newepoch(sec, usec))
end
redis.call('HSET', mkey, 'a', '1', 'bl', ARGV[7], 'mbl', ARGV[8], 'mt', ARGV[9], 'ct', ARGV[10])
local n = redis.call('XLEN', skey)
local need = math.max(ct, 1000)
local force = false -- an XADD to an empty stream may make the key
if id ~= '' then
  local lt, lg = idparse(meta[2])
  local t, g = idparse(id)
  if idless(lt, lg, t, g) then
    local num = ARGV[12] or '0'
    if bl > 0 then
      local fields = {'x', ARGV[3], 'q', ARGV[2], 'c', ARGV[4], 'e', ARGV[5], 'b', ARGV[6], 'n', num}
      if (ARGV[11] or '0') ~= '0' then
        fields[#fields + 1] = 'z'
        fields[#fields + 1] = ARGV[11]
      end
      if (ARGV[13] or '') ~= '' then
        fields[#fields + 1] = 'i'
        fields[#fields + 1] = ARGV[13]
      end
      redis.call('XADD', skey, id, unpack(fields))
      force = n == 0
      n = n + 1
    else
      redis.call('HSET', mkey, 'd', id)
    end
    redis.call('HSET', mkey, 'l', id, 'lq', ARGV[2])
    if (tonumber(num) or 0) > (tonumber(redis.call('HGET', mkey, 'np')) or 0) then
      redis.call('HSET', mkey, 'np', num)
    end
  end
  need = -1
  if bl <= 0 or mt > 0 then need = math.max(mt, ct, 1000) end
end
n = trimto(skey, mkey, n, cap)
keepfor(mkey, skey, nkey, need, nowms, force)
return n
