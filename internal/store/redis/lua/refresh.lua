-- refresh: renew this node's subscriber count for the channel (its liveness),
-- and restore the channel if Redis lost it while the node has subscribers.
-- KEYS: meta, stream, counts, floor
-- ARGV: node id, count, node entry lifetime ms, epoch, last id, authorized,
--   last requested ms, bl, mbl, mt, ct (the node's idea of the options)
-- Returns {'ok'}, {'restored'}, {'missing'}, {'new'} (the epoch changed:
-- the node syncs) or {'gone'} (deleted).
local mkey, skey, nkey, fkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sec, usec, nowms = clock()
local node, count, nodettl, ep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'lr', 'ct')
local f = redis.call('HMGET', fkey, 'de', 'fl')
if meta[1] ~= ep and (tonumber(f[1]) or 0) >= tonumber(ep) then return {'gone'} end
local status = 'ok'
if not meta[1] then
  if count == 0 then return {'missing'} end
  redis.call('DEL', skey)
  redis.call('HSET', mkey, 'ep', ep, 'l', ARGV[5], 'a', ARGV[6], 'bl', ARGV[8], 'mbl', ARGV[9],
    'mt', ARGV[10], 'ct', ARGV[11], 'lr', ARGV[7])
  meta = {ep, ARGV[5], ARGV[7], ARGV[11]}
  status = 'restored'
elseif meta[1] ~= ep then
  local ft, fg = idparse(f[2])
  local mt, mg = idparse(ARGV[5])
  if idless(ft, fg, mt, mg) then
    redis.call('HSET', fkey, 'fl', ARGV[5])
    redis.call('PEXPIRE', fkey, FLOORTTL)
  end
  return {'new'}
end
local lt, lg = idparse(meta[2])
local mt, mg = idparse(ARGV[5])
if idless(lt, lg, mt, mg) then redis.call('HSET', mkey, 'l', ARGV[5]) end
if count > 0 then
  redis.call('HSET', nkey, node, fmt(count) .. ' ' .. fmt(nowms + nodettl))
else
  redis.call('HDEL', nkey, node)
end
if (tonumber(ARGV[7]) or 0) > (tonumber(meta[3]) or 0) then redis.call('HSET', mkey, 'lr', ARGV[7]) end
if count > 0 then
  keepfor(mkey, skey, nkey, math.max(tonumber(meta[4]) or 0, 2 * nodettl, 1000), nowms, false)
end
return {status}
