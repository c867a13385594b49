-- Shared helpers, prepended to every script by redis_ckpt/scripts.py.

-- Parse the length-prefixed list format of redis_ckpt/encoding.py: "<len>:<bytes>" repeated.
local function split_list(s)
  local out, pos = {}, 1
  if not s then return out end
  while pos <= #s do
    local colon = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + n)
    pos = colon + n + 1
  end
  return out
end

-- HMGET in chunks: Lua's unpack() has a stack limit.
local function hmget_all(key, fields)
  local out = {}
  for s = 1, #fields, 1000 do
    local e = math.min(s + 999, #fields)
    local vals = redis.call('HMGET', key, unpack(fields, s, e))
    for i = 1, #vals do out[s + i - 1] = vals[i] end
  end
  return out
end

-- The pending writes of a writes hash, as HGETALL's flat {field, record, ...}. A hash with spilled
-- (large) values carries the field '\0': then its spill fields (names starting with '\0') are left
-- out, so their values never enter Lua; the caller reads them (redis_ckpt/spill.py).
local function writes_of(key)
  if redis.call('HEXISTS', key, '\0') == 0 then return redis.call('HGETALL', key) end
  local fields = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.byte(field, 1) ~= 0 then fields[#fields + 1] = field end
  end
  local values, flat = hmget_all(key, fields), {}
  for i, field in ipairs(fields) do
    flat[#flat + 1] = field
    flat[#flat + 1] = values[i]
  end
  return flat
end

-- A checkpoint document as {c, m, p, pairs}, or nil when it does not exist; pairs is the flat
-- {channel, blob field, ...} list of the values it references. A document holds one field
-- 'd' = {p, {channel, version repr, ...}, body} (body: checkpoint and metadata together,
-- compressed; returned in c's place, with m = '' saying so) and the search tags. Documents
-- written before it held 'c', 'm', 'p' and 'v' = {channel, blob field, ...} as fields.
local function read_doc(key)
  local d = redis.call('HMGET', key, 'd', 'c', 'm', 'p', 'v')
  if d[1] then
    local x = split_list(d[1])
    local versions, pairs_ = split_list(x[2]), {}
    for i = 1, #versions, 2 do
      pairs_[i] = versions[i]
      pairs_[i + 1] = versions[i] .. '\0' .. versions[i + 1]
    end
    return {x[3], '', x[1], pairs_}
  end
  if not d[2] then return nil end
  return {d[2], d[3], d[4] or '', split_list(d[5])}
end

local function expire_all(ttl, keys)
  if ttl > 0 then
    for _, k in ipairs(keys) do redis.call('EXPIRE', k, ttl) end
  end
end

-- Walk the parent chain from `start` (an ancestor id, '' = none) for the `open` channels (a set
-- table; `n_open` its size). At each ancestor: `visit(id, doc_key, writes_key, seeds)` where seeds
-- is the flat {channel, value, ...} list of still-open channels with a stored value there; those
-- channels then close. Stops when all are closed, at the root, at a missing document, on a cycle,
-- or after `max_depth` ancestors. `seen` holds ids not to visit (the walk's own start excluded).
local function walk_chain(doc_prefix, writes_prefix, blobs, start, open, n_open, max_depth, seen, visit)
  local cur, depth = start, 0
  while cur and cur ~= '' and n_open > 0 and not seen[cur] and depth < max_depth do
    seen[cur] = true
    depth = depth + 1
    local doc_key = doc_prefix .. cur
    local d = read_doc(doc_key)
    if not d then break end
    local pairs_, seeds = d[4], {}
    for i = 1, #pairs_, 2 do
      if open[pairs_[i]] then
        local val = redis.call('HGET', blobs, pairs_[i + 1])
        if val then
          seeds[#seeds + 1] = pairs_[i]
          seeds[#seeds + 1] = val
        end
      end
    end
    visit(cur, doc_key, writes_prefix .. cur, seeds)
    for i = 1, #seeds, 2 do
      if open[seeds[i]] then open[seeds[i]] = nil; n_open = n_open - 1 end
    end
    cur = d[3]
  end
end

local function set_of(list, first)
  local set, n = {}, 0
  for i = first, #list do
    if not set[list[i]] then set[list[i]] = true; n = n + 1 end
  end
  return set, n
end

-- Deduplicated values (redis_ckpt/chunks.py). A stored value starting with '\3' is a keyframe
-- record {array header, digests}, with '\2' a delta {array header, digests, depth, base field,
-- keep}: the first `keep` chunks of the value in `base field`, then `digests` (16 bytes each).
local DELTA, KEYFRAME, DIGEST, MAX_RECORD_DEPTH = 2, 3, 16, 64

local function pack_list(items)
  local out = {}
  for i, s in ipairs(items) do out[i] = #s .. ':' .. s end
  return table.concat(out)
end

local function is_record(value)
  local b = value and string.byte(value, 1)
  return b == DELTA or b == KEYFRAME
end

local function record_parts(value)
  return split_list(string.sub(value, 2))
end

local function digests_of(s)
  local out = {}
  for i = 1, #s, DIGEST do out[#out + 1] = string.sub(s, i, i + DIGEST - 1) end
  return out
end

-- A record as a keyframe (its chain followed through the blob hash, the original's depth kept as
-- a third item) and its digests; the record as stored, and nil, when a base is missing (the
-- caller then reports an incomplete chain).
local function resolve(blobs, value)
  local chain, cur = {}, value
  while true do
    local p = record_parts(cur)
    chain[#chain + 1] = p
    if string.byte(cur, 1) == KEYFRAME then break end
    if #chain > MAX_RECORD_DEPTH then return value, nil end
    cur = redis.call('HGET', blobs, p[4])
    if not is_record(cur) then return value, nil end
  end
  local list = {}
  for i = #chain, 1, -1 do
    local p = chain[i]
    if i < #chain then
      for j = #list, tonumber(p[5]) + 1, -1 do list[j] = nil end
    end
    for _, d in ipairs(digests_of(p[2])) do list[#list + 1] = d end
  end
  local depth = chain[1][3] or '0'
  return string.char(KEYFRAME) .. pack_list({chain[1][1], table.concat(list), depth}), list
end

-- The chunks one read returns, each once: want() collects digests, fetch() reads them.
local function chunk_collector(chunks_key)
  local seen, list = {}, {}
  local c = {}
  function c.want(digests)
    for _, d in ipairs(digests) do
      if not seen[d] then seen[d] = true; list[#list + 1] = d end
    end
  end
  -- the pending writes of a writes hash (flat {field, record, ...}) that hold records
  function c.want_writes(flat)
    for i = 2, #flat, 2 do
      local value = split_list(flat[i])[3]
      if is_record(value) then c.want(digests_of(record_parts(value)[2])) end
    end
  end
  function c.fetch()
    if #list == 0 then return {} end
    local vals, flat = hmget_all(chunks_key, list), {}
    for i, d in ipairs(list) do
      flat[#flat + 1] = d
      flat[#flat + 1] = vals[i] or ''
    end
    return flat
  end
  return c
end
