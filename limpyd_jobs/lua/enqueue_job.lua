-- Put an existing job in a queue's waiting list, or its delayed set, atomically.
-- ARGV[1] job model name   ARGV[2] job pk   ARGV[3] job ident   ARGV[4] queue model name
-- ARGV[5] queue pk, or '' to find/create the queue (ARGV[6] name, ARGV[7] priority)
-- ARGV[8] delayed_until string or ''   ARGV[9] delayed_until score or ''   ARGV[10] now score
-- ARGV[11] prepend 0/1   ARGV[12] set the job's priority field to ARGV[7] (0/1)
-- ARGV[13] key of a worker's running set to release the job from, or ''
-- Returns {queue_pk, queue_created (0/1)}
local job_model, pk, ident, queue_model = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local queue_pk, queue_name, priority = ARGV[5], ARGV[6], ARGV[7]
local queue_created = 0
register_model(string.match(ident, '^(.+):[^:]+$'), job_model)
if queue_pk == '' then
  queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
else
  queue_name = redis.call('HGET', hash_key(queue_model, queue_pk), 'name') or queue_name
end
if ARGV[12] == '1' then set_field(job_model, pk, 'priority', priority, true) end
-- only a WAITING or DELAYED job can be in a list of its previous queue
local current = redis.call('HMGET', hash_key(job_model, pk), 'queue_key', 'status', 'queued')
local old_queue = current[1]
if old_queue and (current[2] == WAITING or current[2] == DELAYED) then
  redis.call('LREM', old_queue .. ':waiting', 0, ident)
  redis.call('ZREM', old_queue .. ':delayed', ident)
end
enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name, ARGV[8], ARGV[9], ARGV[10], ARGV[11],
                 current[2], current[3])
if ARGV[13] ~= '' then redis.call('ZREM', ARGV[13], ident) end
return {queue_pk, queue_created}
