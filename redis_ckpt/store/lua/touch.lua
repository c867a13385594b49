-- Refresh the TTL of items a search returned. KEYS: item names. ARGV: their vector bases.
for k = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[k], 't', 'n')
  refresh(KEYS[k], ARGV[k], f[1], f[2])
end
return 1
