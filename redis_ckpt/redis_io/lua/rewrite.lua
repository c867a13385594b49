-- Re-encryption (redis-ckpt reencrypt): replace stored pieces by the same pieces sealed with
-- another key, only where they still hold what was read, so that nothing written, deleted or
-- collected meanwhile is overwritten or brought back. Readers see the old piece or the new one.
-- KEYS: a hash (chunk, blob or checkpoint hash)
-- ARGV: 'each', then (field, expected, new) triples: each field still holding `expected` gets `new`;
--       or 'doc', k, the document's k pieces as read ('d', 'd1', ...), then its new pieces: the
--       document is replaced only if its pieces are exactly those (and no more).
-- Returns how many fields ('each') or documents ('doc': 1 or 0) were replaced.
local key, mode = KEYS[1], ARGV[1]
if mode == 'each' then
  local done = 0
  for i = 2, #ARGV, 3 do
    if redis.call('HGET', key, ARGV[i]) == ARGV[i + 1] then
      redis.call('HSET', key, ARGV[i], ARGV[i + 2])
      done = done + 1
    end
  end
  return done
end
local k = tonumber(ARGV[2])
local function piece(i)
  if i == 0 then return 'd' end
  return 'd' .. i
end
for i = 0, k - 1 do
  if redis.call('HGET', key, piece(i)) ~= ARGV[3 + i] then return 0 end
end
if redis.call('HEXISTS', key, piece(k)) == 1 then return 0 end
for i = 0, k - 1 do redis.call('HDEL', key, piece(i)) end
for i = 3 + k, #ARGV do redis.call('HSET', key, piece(i - 3 - k), ARGV[i]) end
return 1
