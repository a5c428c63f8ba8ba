-- Keep a worker's entry in the registry alive: its heartbeat, atomically.
-- ARGV: worker, now_score, fields...
-- RETURNS: 1 if the worker's hash was written (first beat, or the entry was removed meanwhile), else 0
-- RETRY: safe, a beat writes the same values again
-- The time of the beat is the worker's score in the workers set. Its hash (fields: pairs of field
-- and value, which do not change while it runs) is written when the worker was not in that set:
-- at the first beat, and when a recovery removed both while the worker was paused (it comes back
-- whole). Both leave together: when the worker stops, or when a recovery finds it dead.
if redis.call('ZADD', key_workers(), now_score, worker) == 0 then return 0 end
redis.call('HSET', key_worker(worker), unpack(fields))
return 1
