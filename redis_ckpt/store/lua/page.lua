-- One page of the live items in a member range, in member order (= namespace, key order).
-- KEYS: items zset. ARGV: item prefix, vector prefix, low bound, high bound, count,
-- with vectors ('1'/'0'). Index entries whose item expired are removed on the way.
-- Returns {last member seen (or ''), exhausted 1/0, {member, value, created, updated, ttl, {vectors}}...}
local items = KEYS[1]
local item_prefix, vector_prefix, low, high = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, with_vectors = tonumber(ARGV[5]), ARGV[6] == '1'
local out, last = {}, ''
while true do
  local batch = redis.call('ZRANGEBYLEX', items, low, high, 'LIMIT', 0, count)
  for _, member in ipairs(batch) do
    last = member
    local suffix = item_suffix(member)
    local f = redis.call('HMGET', item_prefix .. suffix, 'v', 'c', 'u', 't', 'n')
    if f[1] then
      local vectors = {}
      if with_vectors then
        for j = 0, (tonumber(f[5]) or 0) - 1 do
          vectors[j + 1] = redis.call('HGET', vector_prefix .. suffix .. '#' .. j, 'vec') or ''
        end
      end
      out[#out + 1] = {member, f[1], f[2], f[3], f[4], vectors}
      if #out >= count then return {last, 0, out} end
    else
      redis.call('ZREM', items, member)
    end
  end
  if #batch < count then return {last, 1, out} end
  low = '(' .. last
end
