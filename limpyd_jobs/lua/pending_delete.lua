-- Remove a pending job completely: from the schedule, its data, its hash, its collection.
-- ARGV[1] job model name   ARGV[2] schedule key   ARGV[3] job id
-- Returns 1 if the job existed, else 0
local model, schedule, id = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', schedule, id)
redis.call('DEL', model .. ':' .. id .. ':data', model .. ':' .. id .. ':hash')
return redis.call('SREM', model .. ':collection', id)
