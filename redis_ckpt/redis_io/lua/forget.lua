-- The last call of delete_thread: drop the thread's current token once the thread holds no data
-- (its namespace set, which every write registers in, is gone) and nobody holds its lease (an
-- owner deleting its own thread goes on owning it). Every token issued before is then refused:
-- a write is accepted only under the current token, and the next one has a new random nonce.
-- Returns 1 if dropped.
-- KEYS: current token, lease key, namespace set
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
