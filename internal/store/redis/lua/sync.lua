-- sync: what a node needs to bring its copy of a channel up to date: the
-- meta and the messages after a cursor (or the newest ones).
-- KEYS: meta, stream, floor
-- ARGV: the node's epoch ('' if none), cursor id ('' for the newest
--   messages), most messages to return, the node's last id
-- Returns {'gone'}, {'missing', now ms} or {status, epoch, last id,
-- dropped id, bl, mbl, mt, ct, authorized, stream length, now ms, entries}
-- with status 'ok' or 'new' (the channel was lost and made again).
local mkey, skey, fkey = KEYS[1], KEYS[2], KEYS[3]
local sec, usec, nowms = clock()
local myep = ARGV[1]
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'd', 'bl', 'mbl', 'mt', 'ct', 'a')
local f = redis.call('HMGET', fkey, 'de', 'fl')
if myep ~= '' and meta[1] ~= myep and (tonumber(f[1]) or 0) >= tonumber(myep) then
  return {'gone'}
end
if not meta[1] then return {'missing', fmt(nowms)} end
local status = 'ok'
if myep ~= '' and meta[1] ~= myep then
  -- Redis lost the channel and it was made again: the node's subscribers
  -- have seen ids up to ARGV[4]; later messages must come after them.
  status = 'new'
  local ft, fg = idparse(f[2])
  local mt, mg = idparse(ARGV[4])
  if idless(ft, fg, mt, mg) then
    redis.call('HSET', fkey, 'fl', ARGV[4])
    redis.call('PEXPIRE', fkey, FLOORTTL)
  end
end
local entries
if ARGV[2] == '' then
  entries = redis.call('XREVRANGE', skey, '+', '-', 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', skey, '(' .. ARGV[2], '+', 'COUNT', ARGV[3])
end
return {status, meta[1], meta[2] or '0-0', meta[3] or '0-0', meta[4] or '0', meta[5] or '0',
  meta[6] or '0', meta[7] or '0', meta[8] or '0', redis.call('XLEN', skey), fmt(nowms), entries}
