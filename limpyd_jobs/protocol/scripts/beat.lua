-- Keep a worker's entry in the registry alive: its heartbeat, atomically.
-- ARGV: worker, now_score, ttl, fields...
-- RETURNS: 1 if the worker's hash was written (first beat, or the entry was removed meanwhile), else 0
-- RETRY: safe, a beat writes the same values again
-- The time of the beat is the worker's score in the workers set; its hash (fields: pairs of
-- field and value, which do not change while it runs) only gets a new expiry, and is written
-- whole when missing: a worker a recovery removed while it was paused comes back whole.
local key = key_worker(worker)
redis.call('ZADD', key_workers(), now_score, worker)
if redis.call('EXPIRE', key, ttl) == 1 then return 0 end
redis.call('HSET', key, unpack(fields))
redis.call('EXPIRE', key, ttl)
return 1
