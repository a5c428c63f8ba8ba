-- Give back the jobs of workers that stopped beating, atomically (one recovery at a time).
-- ARGV[1] now (score)   ARGV[2] beats older than this score mean a dead worker
-- ARGV[3] max attempts: a lost job that already ran this many times ends in ERROR
-- ARGV[4] recovering worker id   ARGV[5] lock duration (ms): recoveries closer than this are skipped
-- ARGV[6] now (stored string, for the `end` of jobs set to ERROR)
-- Keys used: limpyd-jobs:workers (sorted set id -> last beat), limpyd-jobs:worker:<id> (hash)
-- and limpyd-jobs:worker:<id>:running (sorted set ident -> time taken).
-- A lost job was RUNNING (or ERROR waiting for its requeue): it goes back to the front of its
-- queue's waiting list as WAITING, or to ERROR (with `end`, in the `errors` list, unqueued)
-- once it has used its attempts. A job DELAYED while it ran goes to its delayed set (due now);
-- one CANCELED while it ran is unqueued. Jobs already back in a queue are left alone.
-- Returns {dead workers count, ident, outcome ('requeued' or 'error'), tries, worker id, ...}
local now, dead_before, max_tries = ARGV[1], ARGV[2], tonumber(ARGV[3])
local me, lock_ms, now_str = ARGV[4], ARGV[5], ARGV[6]
local WORKERS = 'limpyd-jobs:workers'
if redis.call('SET', 'limpyd-jobs:recovery-lock', me, 'NX', 'PX', lock_ms) == false then
  return {0}
end
local result = {0}
local dead = redis.call('ZRANGEBYSCORE', WORKERS, '-inf', '(' .. dead_before)
for _, worker in ipairs(dead) do
  local running = 'limpyd-jobs:worker:' .. worker .. ':running'
  for _, ident in ipairs(redis.call('ZRANGE', running, 0, -1)) do
    local job_model, pk = job_model_of(ident)
    if job_model and redis.call('SISMEMBER', job_model .. ':collection', pk) == 1 then
      local key = hash_key(job_model, pk)
      local fields = redis.call('HMGET', key, 'status', 'queued', 'tries', 'queue_key')
      local status, queued, tries, queue = fields[1], fields[2], tonumber(fields[3]) or 0, fields[4]
      if queued == '1' and queue and (status == RUNNING or status == ERROR) then
        if tries >= max_tries then
          set_field(job_model, pk, 'status', ERROR, true)
          set_field(job_model, pk, 'end', now_str, false)
          del_field(job_model, pk, 'queued', true)
          redis.call('RPUSH', queue .. ':errors', ident)
          table.insert(result, ident); table.insert(result, 'error')
        else
          set_field(job_model, pk, 'status', WAITING, true)
          redis.call('LPUSH', queue .. ':waiting', ident)
          wake_up(string.match(queue, '^(.+):[^:]+$'), redis.call('HGET', queue .. ':hash', 'name') or '', 1)
          table.insert(result, ident); table.insert(result, 'requeued')
        end
        table.insert(result, tostring(tries)); table.insert(result, worker)
      elseif queued == '1' and queue and status == DELAYED then
        redis.call('ZADD', queue .. ':delayed', now, ident)
      elseif queued == '1' and status == CANCELED then
        del_field(job_model, pk, 'queued', true)
      end
    end
  end
  redis.call('DEL', running, 'limpyd-jobs:worker:' .. worker)
  redis.call('ZREM', WORKERS, worker)
  result[1] = result[1] + 1
end
return result
