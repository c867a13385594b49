-- Items by name. KEYS: item names. ARGV: per key, refresh flag ('1'/'0') and vector base.
-- Returns per key {value, created, updated, ttl ms} or nil (absent or expired).
local out = {}
for k = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[k], 'v', 'c', 'u', 't', 'n')
  if f[1] then
    if ARGV[2 * k - 1] == '1' then refresh(KEYS[k], ARGV[2 * k], f[4], f[5]) end
    out[k] = {f[1], f[2], f[3], f[4]}
  else
    out[k] = false
  end
end
return out
