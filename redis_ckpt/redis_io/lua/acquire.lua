-- Take the thread's lease if nobody holds it: issue the next fencing token and store it both as
-- the thread's current token and in the lease key with its expiry. A token is
-- '<counter>:<nonce>', the nonce chosen by the caller at random: should a failover lose an issued
-- token (asynchronous replication), or the thread's deletion or expiry drop the current token
-- (the counter then starts over), the next one issued may get the same counter but never the same
-- token, so two workers can never hold one token, and a superseded token is never accepted again.
-- Returns {token, 0}, or {'', ms left on the current holder's lease}.
-- KEYS: current token, lease key
-- ARGV: lease in ms, nonce, the current token's expiry in ms (0: none; see fence_ttl_ms)
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'', redis.call('PTTL', KEYS[2])}
end
local current = redis.call('GET', KEYS[1])
local counter = (current and tonumber(string.match(current, '^%d+')) or 0) + 1
local token = counter .. ':' .. ARGV[2]
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], token)
end
redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
return {token, 0}
