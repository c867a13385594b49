-- Ends put's MULTI/EXEC when the put relies on values or chunks it did not send (stored by
-- earlier puts). If all are there, it stores the put's records (deduplicated values that name
-- them); if any is gone (collected by a prune or delete in another process), it stores no record
-- (an existing one, which live checkpoints may use, is never replaced by one that cannot be
-- read) and takes the new checkpoint back out, so no checkpoint is ever visible without its
-- values, and returns what is missing: the saver then puts it again with those parts.
-- KEYS: doc, idx, blobs, chunks
-- ARGV: checkpoint id, n fields, n digests, blob field * n, digest * n, (record field, record)...
local doc, idx, blobs, chunks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n_fields, n_digests = tonumber(ARGV[2]), tonumber(ARGV[3])
local missing = {}
for i = 4, 3 + n_fields do
  if redis.call('HEXISTS', blobs, ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
for i = 4 + n_fields, 3 + n_fields + n_digests do
  if redis.call('HEXISTS', chunks, ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 0 then
  redis.call('DEL', doc)
  redis.call('ZREM', idx, ARGV[1])
  return missing
end
for i = 4 + n_fields + n_digests, #ARGV, 2 do
  redis.call('HSET', blobs, ARGV[i], ARGV[i + 1])
end
return missing
