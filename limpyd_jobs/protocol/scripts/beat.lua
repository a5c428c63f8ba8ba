-- Keep a worker's entry in the registry alive: its heartbeat, atomically.
-- ARGV: worker, now_score, fields...
-- RETURNS: written, now
-- RETRY: safe, a beat writes the same values again
-- The time of the beat (Redis's TIME unless now_score is given) is the worker's score in the
-- workers set; `now` returns it. Its hash (fields: pairs of field and value, which do not change
-- while it runs) is written when the worker was not in that set (written: 1): at the first beat,
-- and when a recovery removed both while the worker was paused (it comes back whole). Both leave
-- together: when the worker stops, or when a recovery finds it dead.
local now = now_or_server(now_score)
if redis.call('ZADD', key_workers(), now, worker) == 0 then return {0, tostring(now)} end
redis.call('HSET', key_worker(worker), unpack(fields))
return {1, tostring(now)}
