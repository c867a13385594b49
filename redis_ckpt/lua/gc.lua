-- One bounded step of the incremental garbage collection of one (thread, ns), for a drop made
-- under write ownership (no other writer can interleave between steps: every step is fenced).
-- It does what drop.lua's collection does in one call, spread over calls of `count` items each,
-- with the marks kept in two sets in the thread's slot:
--   'docs'   marks, for a page of checkpoint ids after `cursor`, the blob fields their documents
--            reference, the bases of those records (transitively) and the chunks they name, and
--            the chunks their pending writes name;
--   'writes' marks the chunks named by the pending writes of a page of writes-index ids;
--   'blobs'  deletes, for one HSCAN page, the blob fields not marked (a spill field lives as long
--            as the marked blob field that names it);
--   'chunks' deletes, for one HSCAN page, the chunks not marked.
-- Returns {done (1 when the phase is finished), next cursor, items deleted}.
-- KEYS: idx, widx, blobs, chunks, marked fields, marked chunks
-- ARGV: doc_prefix, writes_prefix, phase, cursor, count, marks ttl (ms)
local idx, widx, blobs, chunks, mf, mc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local doc_prefix, writes_prefix, phase, cursor = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count = tonumber(ARGV[5])

local function mark_chunks(value)
  if not is_record(value) then return nil end
  local p = record_parts(value)
  local ds = digests_of(p[2])
  for s = 1, #ds, 1000 do redis.call('SADD', mc, unpack(ds, s, math.min(s + 999, #ds))) end
  return p[4]
end

local function reference(field)
  -- Follow the base chain until a field already marked (its chain is marked) or a plain value.
  while field do
    if redis.call('SADD', mf, field) == 0 then return end
    field = mark_chunks(redis.call('HGET', blobs, field))
  end
end

local function mark_writes(cid)
  local flat = writes_of(writes_prefix .. cid)
  for i = 2, #flat, 2 do mark_chunks(split_list(flat[i])[3]) end
end

local function page_of(zset)
  local low = cursor == '' and '-' or '(' .. cursor
  return redis.call('ZRANGEBYLEX', zset, low, '+', 'LIMIT', 0, count)
end

local done, next_cursor, deleted = 0, '', 0
if phase == 'docs' or phase == 'writes' then
  local ids = page_of(phase == 'docs' and idx or widx)
  for _, cid in ipairs(ids) do
    if phase == 'docs' then
      local doc = read_doc(doc_prefix .. cid)
      local pairs_ = doc and doc[4] or {}
      for i = 2, #pairs_, 2 do reference(pairs_[i]) end
    end
    mark_writes(cid)
  end
  if #ids < count then done = 1 else next_cursor = ids[#ids] end
else
  local key, marks = blobs, mf
  if phase == 'chunks' then key, marks = chunks, mc end
  local scan = redis.call('HSCAN', key, cursor, 'COUNT', count)
  local doomed = {}
  for i = 1, #scan[2], 2 do
    local field = scan[2][i]
    local keep = redis.call('SISMEMBER', marks, field) == 1
    if not keep and phase == 'blobs' and string.byte(field, 1) == 0 then
      local base = string.sub(field, 2)
      keep = redis.call('SISMEMBER', mf, base) == 1 and redis.call('HGET', blobs, base) == field
    end
    if not keep then doomed[#doomed + 1] = field end
  end
  for s = 1, #doomed, 1000 do redis.call('HDEL', key, unpack(doomed, s, math.min(s + 999, #doomed))) end
  deleted = #doomed
  next_cursor = scan[1]
  if next_cursor == '0' then done = 1 end
end
redis.call('PEXPIRE', mf, ARGV[6])
redis.call('PEXPIRE', mc, ARGV[6])
return {done, next_cursor, deleted}
