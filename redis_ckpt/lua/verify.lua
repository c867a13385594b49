-- Ends put's MULTI/EXEC when the put relies on values or chunks it did not send (they were
-- stored by earlier puts): if any is gone (collected by a prune or delete in another process),
-- take the new checkpoint back out, so no checkpoint is ever visible without its values, and
-- return what is missing; the saver then puts it again with everything.
-- KEYS: doc, idx, blobs, chunks
-- ARGV: checkpoint id, number of blob fields n, blob field * n, chunk digest...
local doc, idx, blobs, chunks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = tonumber(ARGV[2])
local missing = {}
for i = 3, 2 + n do
  if redis.call('HEXISTS', blobs, ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
for i = 3 + n, #ARGV do
  if redis.call('HEXISTS', chunks, ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 0 then
  redis.call('DEL', doc)
  redis.call('ZREM', idx, ARGV[1])
end
return missing
