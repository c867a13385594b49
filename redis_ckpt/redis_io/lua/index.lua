-- The checkpoint index of one (thread, ns) (checkpoint_index in common.lua), for callers outside
-- the scripts: 'fwd' answers at most `n` ids above `low` ('-' or '(' and an id), oldest first;
-- 'add' adds ids (copy_thread), giving what it touched the TTL (ttl > 0).
-- KEYS: idx
-- ARGV: 'fwd', low, n | 'add', ttl, id...
local index = checkpoint_index(KEYS[1])
if ARGV[1] == 'fwd' then return index.fwd(ARGV[2], tonumber(ARGV[3])) end
for i = 3, #ARGV do index.add(ARGV[i]) end
index.expire(tonumber(ARGV[2]))
return #ARGV - 2
