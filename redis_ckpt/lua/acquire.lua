-- Take the thread's lease if nobody holds it: issue the next fencing token (INCR of the thread's
-- counter, never reset) and store it in the lease key with its expiry. Returns {token, 0}, or
-- {0, ms left on the current holder's lease}.
-- KEYS: fence counter, lease key
-- ARGV: lease in ms
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0, redis.call('PTTL', KEYS[2])}
end
local token = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
return {token, 0}
