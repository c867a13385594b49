-- Sent (by EVAL) right after WATCH on the thread's current token and right before the MULTI of an
-- owned write, all in one round trip. If the caller's token is still the thread's current one,
-- it renews the lease (re-taking it if it lapsed while nobody took over) and returns 1: the EXEC
-- that follows then applies unless a new token is issued before it runs (that SETs the watched
-- key). Otherwise it modifies the watched key, which makes the EXEC apply nothing, and returns 0:
-- it rewrites the key with its own value and expiry, or, if the thread has no current token
-- (deleted or expired with the thread), creates and deletes it, leaving no key behind.
-- KEYS: current token, lease key
-- ARGV: token, lease in ms
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  if current then
    redis.call('SET', KEYS[1], current, 'KEEPTTL')
  else
    redis.call('SET', KEYS[1], '0:')
    redis.call('DEL', KEYS[1])
  end
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
