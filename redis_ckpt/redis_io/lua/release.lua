-- Give the lease back if the caller still holds it (a superseded holder must not end its
-- successor's lease). The counter stays: tokens are never issued twice. Returns 1 if released.
-- KEYS: lease key
-- ARGV: token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
