-- Take the pending jobs that are due, oldest first: each is removed from the schedule, or
-- rescheduled, in this one atomic step, so two pollers never get the same job for one due time.
-- ARGV[1] job model name   ARGV[2] schedule key   ARGV[3] now (timestamp)
-- ARGV[4] reschedule at this timestamp ('' to remove from the schedule)   ARGV[5] limit ('' for none)
-- Returns {id, {data key, value, ...}, id, {...}, ...}
local model, schedule, now, reschedule, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local due
if limit ~= '' then
  due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, tonumber(limit))
else
  due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now)
end
local result = {}
for _, id in ipairs(due) do
  if reschedule ~= '' then
    redis.call('ZADD', schedule, reschedule, id)
    redis.call('HSET', model .. ':' .. id .. ':hash', 'schedule_at', reschedule)
  else
    redis.call('ZREM', schedule, id)
    redis.call('HDEL', model .. ':' .. id .. ':hash', 'schedule_at')
  end
  table.insert(result, id)
  table.insert(result, redis.call('HGETALL', model .. ':' .. id .. ':data'))
end
return result
