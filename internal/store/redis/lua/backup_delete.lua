-- backup_delete (backup mode): remove the copy of a channel the node
-- deleted.
-- KEYS: meta, stream, counts
-- Returns the number of keys removed.
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
