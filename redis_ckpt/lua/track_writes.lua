-- Ends put_writes' MULTI/EXEC: list the checkpoint in the writes index only when its document
-- does not exist (writes arrived first, or without it). Writes of an existing checkpoint are found
-- through the checkpoint index, so the writes index stays small (a zset costs ~110 bytes per id).
-- KEYS: doc, widx
-- ARGV: checkpoint id
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZADD', KEYS[2], 0, ARGV[1]) end
return 0
