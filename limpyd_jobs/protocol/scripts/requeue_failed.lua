-- Put every failed job of a queue name back in its queue with its tries reset, atomically.
-- ARGV: queue_model, name, now_score, prepend
-- RETURNS: requeued, [ident]...
-- RETRY: safe, a job requeued already is not in ERROR any more: nothing is written twice
-- The failed jobs are those of the `errors` lists of the queues of this name (every priority) that
-- are in ERROR and no longer queued (a job a worker is requeueing is left to it), and whose queue
-- (queue_key) has this name. Each goes back to that queue, WAITING, with tries 0
-- (lib/operator.lua's requeue_failed_job): at the back (prepend 0), or at the front (1), keeping
-- their order (oldest failure first), with a 'requeued' event in its history, counted as requeued
-- in its queue's metrics. An ident whose model is not registered, or whose job is gone, is left.
local found, seen = {}, {}
for _, queue_pk in ipairs(redis.call('SMEMBERS', key_index(queue_model, 'name', name))) do
  local queue = key_queue(queue_model, queue_pk)
  for _, ident in ipairs(redis.call('LRANGE', key_queue_list(queue, 'errors'), 0, -1)) do
    if not seen[ident] then
      seen[ident] = true
      local job_model, pk = job_model_of(ident)
      if job_model then
        local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queued', 'queue_key')
        local target = fields[3] or queue
        if fields[1] == ERROR and not fields[2] and (target == queue or queue_name_of(target) == name) then
          table.insert(found, {job_model, pk, ident, target})
        end
      end
    end
  end
end
local result = {0}
local first, last, step = 1, #found, 1
if prepend == '1' then first, last, step = #found, 1, -1 end
for i = first, last, step do
  local job = found[i]
  if requeue_failed_job(job[1], job[2], job[3], job[4], now_score, prepend) then
    record_event(job[1], job[2], 'requeued', tonumber(now_score), {
      queue = name, by = 'operator', tries = 0, front = prepend == '1' or nil})
    count_event(job[4], 'requeued')
    result[1] = result[1] + 1
    table.insert(result, job[3])
  end
end
return result
