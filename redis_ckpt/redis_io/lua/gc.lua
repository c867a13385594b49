-- One bounded step of the incremental garbage collection of one (thread, ns). It does what
-- drop.lua's one-call collection does, with the same marking and sweep (common.lua), spread over
-- calls of `count` items each, with the marks kept in two sets in the thread's slot, each
-- holding the collection's token as a member:
--   'begin'  creates the marks, unless another collection of the namespace runs (returns done 0),
--            or takes over those of one that stopped stepping (see below);
--   'docs'   marks, for a page of checkpoint ids after `cursor`, the blob fields their documents
--            reference, the bases of those records (transitively) and the chunks they name, and
--            the chunks their pending writes name;
--   'writes' marks the chunks named by the pending writes of a page of writes-index ids;
--   'blobs'  deletes, for one HSCAN page, the blob fields not marked (a spill field lives as long
--            as the marked blob field that names it);
--   'chunks' deletes, for one HSCAN page, the chunks not marked;
--   'end'    deletes the marks.
-- Writers may interleave between steps: while the marks exist, every put marks what its new
-- document references (commit.lua) and every put_writes the chunks it names (track_writes.lua),
-- in their own transactions. So at each sweep step everything a document references is marked:
-- documents older than the collection by the 'docs' pages, newer ones by their put. (A document
-- deleted meanwhile only keeps its values alive until the next collection.)
-- Returns {done (1 when the phase is finished), next cursor, items deleted}; {-1, '', 0} when the
-- marks are gone or belong to another collection (ended by another, or expired: start over).
-- KEYS: idx, widx, blobs, chunks, marked fields, marked chunks
-- ARGV: doc_prefix, writes_prefix, phase, cursor, count, marks ttl (ms), token, stale (ms)
local idx, widx, blobs, chunks, mf, mc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local refused = format_refusal(chunks)
if refused then return refused end
local doc_prefix, writes_prefix, phase, cursor = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, ttl, token, stale = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])

if phase == 'begin' then
  -- Every step renews the marks' expiry to `ttl`: marks renewed within `stale` ms belong to a
  -- running collection. Older ones were left by a collection whose process died, maybe mid-sweep,
  -- with deltas whose bases it deleted: they are taken over, not dropped, so that puts keep
  -- checking the chains they rely on (commit.lua) until this collection ends. Marks only keep
  -- more, so inheriting them is safe (and so is the dead one resuming: it is still right).
  if math.max(redis.call('PTTL', mf), redis.call('PTTL', mc)) > ttl - stale then return {0, '', 0} end
  redis.call('SADD', mf, token)
  redis.call('SADD', mc, token)
  redis.call('PEXPIRE', mf, ttl)
  redis.call('PEXPIRE', mc, ttl)
  return {1, '', 0}
end
if redis.call('SISMEMBER', mf, token) == 0 or redis.call('SISMEMBER', mc, token) == 0 then
  return {-1, '', 0}
end
if phase == 'end' then
  redis.call('DEL', mf, mc)
  return {1, '', 0}
end

local function page_of(phase)
  local low = cursor == '' and '-' or '(' .. cursor
  if phase == 'docs' then return checkpoint_index(idx).fwd(low, count) end
  return redis.call('ZRANGEBYLEX', widx, low, '+', 'LIMIT', 0, count)
end

local marks = set_marks(mf, mc)
local done, next_cursor, deleted = 0, '', 0
if phase == 'docs' or phase == 'writes' then
  local ids = page_of(phase)
  mark_checkpoints(blobs, marks, doc_prefix, writes_prefix, ids, phase == 'docs')
  if #ids < count then done = 1 else next_cursor = ids[#ids] end
else
  local key, keep = blobs, blob_keeper(blobs, marks)
  if phase == 'chunks' then key, keep = chunks, chunk_keeper(marks) end
  local scan = redis.call('HSCAN', key, cursor, 'COUNT', count)
  deleted = sweep(key, scan[2], 2, keep)
  next_cursor = scan[1]
  if next_cursor == '0' then done = 1 end
end
redis.call('PEXPIRE', mf, ttl)
redis.call('PEXPIRE', mc, ttl)
return {done, next_cursor, deleted}
