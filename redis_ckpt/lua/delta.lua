-- Walk the parent chain of a checkpoint for get_delta_channel_history (and prune's ancestry).
-- KEYS: idx, blobs
-- ARGV: doc_prefix, writes_prefix, target id ('' = latest), max_depth, channel...
-- Starting at the target's parent, for each ancestor: the writes to still-open channels, and the
-- stored values of still-open channels (a channel closes at its first stored value, after its
-- writes at that ancestor are collected). Stops when every channel is closed, at the root, at a
-- missing ancestor, on a cycle, or after max_depth ancestors.
-- Returns {target_id, {{ancestor_id, {writes field/value...}, {channel, value, ...}}, ...}}.
local idx, blobs = KEYS[1], KEYS[2]
local doc_prefix, writes_prefix, target = ARGV[1], ARGV[2], ARGV[3]
local max_depth = tonumber(ARGV[4])

if target == '' then
  local upper = '+'
  while target == '' do
    local ids = redis.call('ZREVRANGEBYLEX', idx, upper, '-', 'LIMIT', 0, 16)
    if #ids == 0 then return {'', {}} end
    for _, cid in ipairs(ids) do
      if redis.call('EXISTS', doc_prefix .. cid) == 1 then target = cid break end
    end
    upper = '(' .. ids[#ids]
  end
end

local open, n_open = {}, 0
for i = 5, #ARGV do
  if not open[ARGV[i]] then open[ARGV[i]] = true; n_open = n_open + 1 end
end

local cur = redis.call('HGET', doc_prefix .. target, 'p')
local seen, out, depth = {[target] = true}, {}, 0
while cur and cur ~= '' and n_open > 0 and not seen[cur] and depth < max_depth do
  seen[cur] = true
  depth = depth + 1
  local d = redis.call('HMGET', doc_prefix .. cur, 'p', 'v')
  if not d[2] then break end
  local raw = redis.call('HGETALL', writes_prefix .. cur)
  local writes = {}
  for i = 1, #raw, 2 do
    local rec = split_list(raw[i + 1]) -- {task_path, channel, typed value}
    if open[rec[2]] then
      writes[#writes + 1] = raw[i]
      writes[#writes + 1] = raw[i + 1]
    end
  end
  local pairs_, seeds = split_list(d[2]), {}
  for i = 1, #pairs_, 2 do
    if open[pairs_[i]] then
      local val = redis.call('HGET', blobs, pairs_[i + 1])
      if val then
        seeds[#seeds + 1] = pairs_[i]
        seeds[#seeds + 1] = val
      end
    end
  end
  for i = 1, #seeds, 2 do
    if open[seeds[i]] then open[seeds[i]] = nil; n_open = n_open - 1 end
  end
  out[#out + 1] = {cur, writes, seeds}
  cur = d[1]
end
return {target, out}
