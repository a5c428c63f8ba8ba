-- Schedule (or reschedule) a pending job and update its data, atomically.
-- ARGV[1] job model name (e.g. "pending:scheduledjob")   ARGV[2] schedule key (sorted set)
-- ARGV[3] schedule collection key   ARGV[4] schedule pk   ARGV[5] job id   ARGV[6] timestamp
-- ARGV[7..] data, by threes: key, value, delete (1: remove the key, value ignored)
-- Returns 1
local model, schedule, schedule_collection, schedule_pk, id, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('SADD', schedule_collection, schedule_pk)
redis.call('SADD', model .. ':collection', id)
redis.call('ZADD', schedule, at, id)
redis.call('HSET', model .. ':' .. id .. ':hash', 'schedule_at', at)
local data = model .. ':' .. id .. ':data'
for i = 7, #ARGV, 3 do
  if ARGV[i + 2] == '1' then
    redis.call('HDEL', data, ARGV[i])
  else
    redis.call('HSET', data, ARGV[i], ARGV[i + 1])
  end
end
return 1
