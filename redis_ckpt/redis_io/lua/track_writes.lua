-- Ends put_writes' MULTI/EXEC: list the checkpoint in the writes index only when its document
-- does not exist (writes arrived first, or without it): the writes are fields of its hash, so the
-- document exists when its `d` field does (`c` for documents stored before they were compact; as
-- document_exists in common.lua, which this script, sent as source, does not include). Writes of
-- an existing checkpoint are found through the checkpoint index, so the writes index stays small (a zset costs ~110 bytes per id).
-- While an incremental garbage collection of the namespace runs (its chunk marks exist), the
-- chunks these writes name are marked, so that no sweep step deletes them.
-- KEYS: doc, widx, marked chunks
-- ARGV: checkpoint id, digest...
-- Sent as source with every put_writes: kept short.
local call = redis.call
if call('HEXISTS', KEYS[1], 'd') == 0 and call('HEXISTS', KEYS[1], 'c') == 0 then call('ZADD', KEYS[2], 0, ARGV[1]) end
if #ARGV > 1 and call('EXISTS', KEYS[3]) == 1 then
  for s = 2, #ARGV, 1000 do call('SADD', KEYS[3], unpack(ARGV, s, math.min(s + 999, #ARGV))) end
end
return 0
