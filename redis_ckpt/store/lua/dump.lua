-- One page of the live items in a member range with everything a snapshot keeps, read-only.
-- KEYS: items zset. ARGV: item prefix, vector prefix, low bound, high bound, count.
-- Returns {last member seen (or ''), exhausted 1/0,
--          {member, value, created, updated, ttl ms, remaining ms (PTTL), {vectors}}...}
local items = KEYS[1]
local item_prefix, vector_prefix, low, high, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, last = {}, ''
local batch = redis.call('ZRANGEBYLEX', items, low, high, 'LIMIT', 0, count)
for _, member in ipairs(batch) do
  last = member
  local suffix = item_suffix(member)
  local item = item_prefix .. suffix
  local f = redis.call('HMGET', item, 'v', 'c', 'u', 't', 'n')
  if f[1] then  -- an expired item's index entry is skipped (readers and sweep() remove it)
    local vectors = {}
    for j = 0, (tonumber(f[5]) or 0) - 1 do
      vectors[j + 1] = redis.call('HGET', vector_prefix .. suffix .. '#' .. j, 'vec') or ''
    end
    out[#out + 1] = {member, f[1], f[2], f[3], f[4] or '0', redis.call('PTTL', item), vectors}
  end
end
return {last, #batch < count and 1 or 0, out}
