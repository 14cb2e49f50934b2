-- backup_load (backup mode): what a node needs to make a channel again
-- from its copy.
-- KEYS: meta, stream
-- ARGV: most messages to return
-- Returns {} when there is no copy, else {last id, authorized, bl, mbl, mt,
-- ct, entries (newest first), messages published}.
local mkey, skey = KEYS[1], KEYS[2]
local meta = redis.call('HMGET', mkey, 'ep', 'l', 'a', 'bl', 'mbl', 'mt', 'ct', 'np')
if not meta[1] then return {} end
local entries = redis.call('XREVRANGE', skey, '+', '-', 'COUNT', ARGV[1])
return {meta[2] or '0-0', meta[3] or '0', meta[4] or '0', meta[5] or '0', meta[6] or '0', meta[7] or '0', entries, meta[8] or '0'}
