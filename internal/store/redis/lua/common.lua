-- Helpers shared by every Herald script; the engine prepends this file to
-- each script, so every script stands alone for EVAL. Before it, the engine
-- defines the shared buffer rules' constants (internal/store/buffer):
-- INFLIGHT_CAP and INFLIGHT_TTL (ms), for channels that keep no messages.
--
-- Keys of a channel share one hash tag (one cluster slot):
--   <ns>{<channel>}:m  meta hash
--   <ns>{<channel>}:s  stream of messages; entry id = message id (seconds-tag)
--   <ns>{<channel>}:n  subscriber counts per node: node id -> "count expiresAtMs"
--   <ns>{<channel>}:f  what survives a delete: fl (floor id), de (deleted epoch)
-- Meta fields: ep epoch, l last id, lq last seq, d newest dropped id,
-- a authorized, bl mbl mt ct options, lr last requested (ms), lv last
-- "last"-rule eviction, fv set while a never-expiring message is buffered,
-- pt/pr token and result of the latest publish (retried publishes), np
-- messages published since the channel was made (the newest message's
-- number).
-- Stream entry fields: x expiry ms, q seq, c content type, e event name,
-- b body, n number, z WebSocket compression level (when not 0), i event
-- id (when not empty).
-- Big numbers are always passed as strings: Lua numbers are doubles and
-- tostring keeps only 14 digits.
if redis.replicate_commands then pcall(redis.replicate_commands) end

local MAXTAG = 32767
local FLOORTTL = 86400000

local function fmt(n)
  return string.format('%.0f', n)
end

-- clock returns Redis's time: seconds, microseconds, milliseconds.
local function clock()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec, usec, sec * 1000 + math.floor(usec / 1000)
end

local function idparse(s)
  if not s then return 0, 0 end
  local a, b = string.match(s, '^(%d+)%-(%d+)$')
  if not a then return 0, 0 end
  return tonumber(a), tonumber(b)
end

local function idfmt(t, g)
  return fmt(t) .. '-' .. fmt(g)
end

local function idless(t1, g1, t2, g2)
  return t1 < t2 or (t1 == t2 and g1 < g2)
end

-- livesubs sums the unexpired per-node subscriber counts, removing expired
-- entries; the entry of node skip is left out of the sum.
local function livesubs(nkey, nowms, skip)
  local all = redis.call('HGETALL', nkey)
  local total = 0
  for i = 1, #all, 2 do
    local c, e = string.match(all[i + 1], '^(%d+) (%d+)$')
    c, e = tonumber(c), tonumber(e)
    if c == nil or e == nil or e <= nowms then
      redis.call('HDEL', nkey, all[i])
    elseif all[i] ~= skip then
      total = total + c
    end
  end
  return total
end

-- dropthrough removes every entry up to and including id, and records it as
-- the newest dropped id.
local function dropthrough(skey, mkey, id)
  local t, g = idparse(id)
  redis.call('XTRIM', skey, 'MINID', idfmt(t, g + 1))
  redis.call('HSET', mkey, 'd', id)
end

-- trimexpired drops expired messages from the oldest on, keeping at least
-- keep, and returns the number left and the number dropped. Stream entries
-- start with field x, the expiry in ms (0: never).
local function trimexpired(skey, mkey, nowms, keep)
  local n = redis.call('XLEN', skey)
  local n0 = n
  local last = nil
  local start = '-'
  local size = 1 -- usually the oldest has not expired: look at it alone first
  while n > keep do
    local batch = redis.call('XRANGE', skey, start, '+', 'COUNT', math.min(n - keep, size))
    size = math.min(size * 8, 512)
    if #batch == 0 then break end
    local stop = false
    for _, e in ipairs(batch) do
      local x = tonumber(e[2][2]) or 0
      if n <= keep or x == 0 or x > nowms then
        stop = true
        break
      end
      last = e[1]
      n = n - 1
    end
    if stop then break end
    start = '(' .. last
  end
  if last then dropthrough(skey, mkey, last) end
  return n, n0 - n
end

-- trimto drops the oldest messages past max, returning the number left.
local function trimto(skey, mkey, n, max)
  if n <= max then return n end
  local old = redis.call('XRANGE', skey, '-', '+', 'COUNT', n - max)
  if #old == 0 then return n end
  dropthrough(skey, mkey, old[#old][1])
  return n - #old
end

-- keepslack is how much longer than asked extend() makes the keys live, so
-- a busy channel extends them once in that time, not on every publish: an
-- eighth of the time asked, at most a second.
local function keepslack(needms)
  return math.min(math.floor(needms / 8), 1000)
end

-- extend makes the meta and stream keys live at least needms more (-1:
-- forever). Meta field kx is when they expire at the earliest (only extend
-- sets their lifetimes, and only ever longer), so a channel whose keys
-- already live long enough costs no command; force extends anyway (a key
-- just made has no lifetime yet). fv and kx are the meta's fields, read by
-- the caller. Returns true when the keys are to live forever: while a
-- message that never expires is buffered, the keys never expire.
local function extend(mkey, skey, nkey, needms, nowms, fv, kx, force)
  if needms < 0 then
    redis.call('HSET', mkey, 'fv', '1')
    redis.call('HDEL', mkey, 'kx')
    redis.call('PERSIST', mkey)
    redis.call('PERSIST', skey)
    redis.call('PERSIST', nkey)
    return true
  end
  if fv == '1' then
    local all = redis.call('XRANGE', skey, '-', '+')
    for _, e in ipairs(all) do
      if (tonumber(e[2][2]) or 0) == 0 then return true end
    end
    redis.call('HDEL', mkey, 'fv')
    -- The counts key was made to live forever too.
    if redis.call('PTTL', nkey) == -1 then redis.call('PEXPIRE', nkey, needms) end
    force = true
  end
  if not force and (tonumber(kx) or 0) - nowms >= needms then return false end
  local ms = needms + keepslack(needms)
  redis.call('PEXPIRE', mkey, ms)
  redis.call('PEXPIRE', skey, ms)
  redis.call('HSET', mkey, 'kx', fmt(nowms + ms))
  return false
end

-- keepfor makes the channel's keys live at least needms more (-1: forever),
-- the counts key as well: the scripts that call it may have just made it.
-- force as for extend.
local function keepfor(mkey, skey, nkey, needms, nowms, force)
  local m = redis.call('HMGET', mkey, 'fv', 'kx')
  if extend(mkey, skey, nkey, needms, nowms, m[1], m[2], force) then return end
  local cur = redis.call('PTTL', nkey)
  if cur ~= -2 and cur < needms then
    redis.call('PEXPIRE', nkey, needms)
  end
end

-- bufsize returns the buffer's capacity and how many messages expiry never
-- removes, for options bl (buffer length) and mbl (minimum).
local function bufsize(bl, mbl)
  if bl <= 0 then return INFLIGHT_CAP, 0 end
  return bl, mbl
end

local function newepoch(sec, usec)
  return fmt(sec * 1000000 + usec)
end
