-- Sent (by EVAL) right after WATCH on the thread's fence counter and right before the MULTI of an
-- owned write, all in one round trip. If the caller's token is still the newest one issued for
-- the thread, it renews the lease (re-taking it if it lapsed while nobody took over) and returns
-- 1: the EXEC that follows then applies unless a newer token is issued before it runs (issuing
-- one INCRs the watched counter). Otherwise it touches the counter without changing it, which
-- makes the EXEC apply nothing, and returns 0.
-- KEYS: fence counter, lease key
-- ARGV: token, lease in ms
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('INCRBY', KEYS[1], 0)
  return 0
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
