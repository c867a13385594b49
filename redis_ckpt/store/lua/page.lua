-- One page of the live items in a member range, in member order (= namespace, key order).
-- KEYS: items zset. ARGV: item prefix, vector prefix, low bound, high bound, count,
-- with vectors ('1'/'0'), filter requirements ('' = none: else requirements joined by ',', each a
-- '|'-joined set of alternative tags of which the item's field `f` must hold one), scan budget.
-- Index entries whose item expired are removed on the way. At most `scan budget`
-- members are looked at per call, so a rare filter over a big range cannot hold the server long.
-- Returns {last member seen (or ''), exhausted 1/0, {member, value, created, updated, ttl, {vectors}}...}
local SCAN_BUDGET = tonumber(ARGV[8])
local items = KEYS[1]
local item_prefix, vector_prefix, low, high = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, with_vectors = tonumber(ARGV[5]), ARGV[6] == '1'
local requirements = {}
for requirement in string.gmatch(ARGV[7] or '', '[^,]+') do
  local alternatives = {}
  for tag in string.gmatch(requirement, '[^|]+') do alternatives[#alternatives + 1] = ',' .. tag .. ',' end
  requirements[#requirements + 1] = alternatives
end

local function passes(tags)
  tags = ',' .. tags .. ','
  for _, alternatives in ipairs(requirements) do
    local found = false
    for _, tag in ipairs(alternatives) do
      if string.find(tags, tag, 1, true) then found = true break end
    end
    if not found then return false end
  end
  return true
end

local out, last, scanned = {}, '', 0
while true do
  local batch = redis.call('ZRANGEBYLEX', items, low, high, 'LIMIT', 0, count)
  for _, member in ipairs(batch) do
    last = member
    scanned = scanned + 1
    local suffix = item_suffix(member)
    local item = item_prefix .. suffix
    local tags = redis.call('HGET', item, 'f')
    if not tags then
      redis.call('ZREM', items, member)
    elseif #requirements == 0 or passes(tags) then
      local f = redis.call('HMGET', item, 'v', 'c', 'u', 't', 'n')
      local vectors = {}
      if with_vectors then
        for j = 0, (tonumber(f[5]) or 0) - 1 do
          vectors[j + 1] = redis.call('HGET', vector_prefix .. suffix .. '#' .. j, 'vec') or ''
        end
      end
      out[#out + 1] = {member, f[1], f[2], f[3], f[4], vectors}
      if #out >= count then return {last, 0, out} end
    end
    if scanned >= SCAN_BUDGET then return {last, 0, out} end
  end
  if #batch < count then return {last, 1, out} end
  low = '(' .. last
end
