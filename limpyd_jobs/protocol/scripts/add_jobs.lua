-- Add many jobs of one model at once, with add_job's rules for each, atomically.
-- ARGV: job_model, model_repr, register, queue_model, now_str, now_score, records...
-- RETURNS: [job_pk, created]..., [created queue_pk]...
-- RETRY: safe, jobs already queued with their identifiers and queue names are found and returned
-- records: one per job: identifier, queue name, priority, delayed_until string or '',
-- delayed_until score or '', prepend 0/1, number of extra fields N, then N threes (name, value,
-- indexed 0/1). (identifier, queue name) pairs are distinct (the caller merges repeats). New jobs are written in
-- batches (one INCRBY for their pks, one SADD per index value, one push per queue; priority has
-- no index set: filters scan), which is
-- what makes this faster than add_job in a loop. The result holds a pair per record, in their
-- order, then the pks of the queues this call created. No `added` history event is written
-- (readers derive it from the `added` field).
if register == '1' then register_model(model_repr, job_model) end  -- once per process is enough
-- Lean Lua (Redis spends more on it than on the commands): records are read where they lie, a
-- plain job's HSET names its fields (no table), the queue is looked up again only when it changes.
local result, created_queues, now = {}, {}, tonumber(now_score)
local new_at, new_n, n, i = {}, {}, 0, 1  -- where each new record starts, and its number
while i <= #records do
  n = n + 1
  local pk, found = find_queued(job_model, queue_model, records[i], records[i + 1])
  if pk then
    local readded = readd_existing(job_model, model_repr, pk, found, queue_model, records[i + 1],
                                   tonumber(records[i + 2]), now_score, records[i + 5])
    if readded[4] == 1 then created_queues[#created_queues + 1] = readded[3] end
    result[2 * n - 1], result[2 * n] = pk, 0
  else
    new_at[#new_at + 1], new_n[#new_n + 1] = i, n
  end
  i = i + 7 + 3 * tonumber(records[i + 6])
end

local count = #new_at
if count > 0 then
  local next_pk = redis.call('INCRBY', key_max_pk(job_model), count) - count
  local all_pks, waiting_pks, pushes, order = {}, {}, {}, {}
  local last_name, last_priority, queue_pk, queue  -- the queue of the record before
  for k = 1, count do
    local at = new_at[k]
    next_pk = next_pk + 1
    local pk = tostring(next_pk)
    local identifier, name, priority = records[at], records[at + 1], tostring(tonumber(records[at + 2]))
    if name ~= last_name or priority ~= last_priority then
      local created
      queue_pk, created = get_or_create_queue(queue_model, name, priority)
      if created == 1 then created_queues[#created_queues + 1] = queue_pk end
      queue, last_name, last_priority = key_queue(queue_model, queue_pk), name, priority
    end
    local ident, extra = model_repr .. ':' .. pk, tonumber(records[at + 6])
    local delayed_score = tonumber(records[at + 4])
    local status = WAITING
    if delayed_score and delayed_score > now then
      status = DELAYED
      redis.call('ZADD', key_queue_list(queue, 'delayed'), delayed_score, ident)
    else
      local command = records[at + 5] == '1' and 'LPUSH' or 'RPUSH'
      local id = command .. ' ' .. queue_pk
      local push = pushes[id]
      if not push then
        push = {command = command, queue = queue, name = name, idents = {}}
        pushes[id], order[#order + 1] = push, id
      end
      push.idents[#push.idents + 1] = ident
      waiting_pks[#waiting_pks + 1] = pk
    end
    if extra == 0 and records[at + 3] == '' then
      redis.call('HSET', key_hash(job_model, pk), 'identifier', identifier, 'priority', priority, 'added', now_str,
                 'status', status, 'queued', '1', 'queue_key', queue)
    else
      local fields = {'identifier', identifier, 'priority', priority, 'added', now_str,
                      'status', status, 'queued', '1', 'queue_key', queue}
      local f = #fields
      if records[at + 3] ~= '' then fields[f + 1], fields[f + 2], f = 'delayed_until', records[at + 3], f + 2 end
      for e = at + 7, at + 6 + 3 * extra, 3 do
        fields[f + 1], fields[f + 2], f = records[e], records[e + 1], f + 2
        if records[e + 2] == '1' then reindex(job_model, pk, records[e], false, records[e + 1]) end
      end
      redis.call('HSET', key_hash(job_model, pk), unpack(fields))
    end
    redis.call('SADD', key_index(job_model, 'identifier', identifier), pk)
    if status == DELAYED then redis.call('SADD', key_index(job_model, 'status', DELAYED), pk) end
    all_pks[k] = pk
    result[2 * new_n[k] - 1], result[2 * new_n[k]] = pk, 1
  end
  -- batched writes, 5000 members per command at most (Lua's unpack limit is far above)
  local function add_all(command, key, members)
    for start = 1, #members, 5000 do
      redis.call(command, key, unpack(members, start, math.min(start + 4999, #members)))
    end
  end
  add_all('SADD', key_collection(job_model), all_pks)
  add_all('SADD', key_index(job_model, 'queued', '1'), all_pks)
  for _, id in ipairs(order) do
    local push = pushes[id]
    local waiting = key_queue_list(push.queue, 'waiting')
    local before = redis.call('LLEN', waiting)
    add_all(push.command, waiting, push.idents)
    if before == 0 then wake_up(queue_model, push.name, #push.idents) end
  end
  add_all('SADD', key_index(job_model, 'status', WAITING), waiting_pks)
end
for _, pk in ipairs(created_queues) do result[#result + 1] = pk end
return result
