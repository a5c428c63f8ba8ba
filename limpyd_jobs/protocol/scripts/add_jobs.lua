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
local parsed, i = {}, 1
while i <= #records do
  local count = tonumber(records[i + 6])
  table.insert(parsed, {identifier = records[i], queue_name = records[i + 1], priority = tonumber(records[i + 2]),
                        delayed_str = records[i + 3], delayed_score = tonumber(records[i + 4]),
                        prepend = records[i + 5], extra_at = i + 7, extra_count = count})
  i = i + 7 + 3 * count
end

local result, created_queues, queues, new_count = {}, {}, {}, 0
local function queue_of(name, priority)
  local id = name .. ':' .. priority
  if not queues[id] then
    local pk, created = get_or_create_queue(queue_model, name, priority)
    queues[id] = pk
    if created == 1 then table.insert(created_queues, pk) end
  end
  return queues[id]
end

for n, record in ipairs(parsed) do
  local pk, found = find_queued(job_model, queue_model, record.identifier, record.queue_name)
  if pk then
    local readded = readd_existing(job_model, model_repr, pk, found, queue_model, record.queue_name,
                                   record.priority, now_score, record.prepend)
    if readded[4] == 1 then table.insert(created_queues, readded[3]) end
    result[2 * n - 1], result[2 * n] = pk, 0
  else
    new_count = new_count + 1
    record.new = true
  end
end

if new_count > 0 then
  local last = redis.call('INCRBY', key_max_pk(job_model), new_count)
  local next_pk = last - new_count
  local all_pks, pushes = {}, {}
  for n, record in ipairs(parsed) do
    if record.new then
      next_pk = next_pk + 1
      local pk, priority = tostring(next_pk), tostring(record.priority)
      local ident = model_repr .. ':' .. pk
      local queue_pk = queue_of(record.queue_name, priority)
      local status = WAITING
      if record.delayed_score and record.delayed_score > tonumber(now_score) then
        status = DELAYED
        redis.call('ZADD', queue_list(queue_model, queue_pk, 'delayed'), record.delayed_score, ident)
      else
        local command = record.prepend == '1' and 'LPUSH' or 'RPUSH'
        local id = command .. ' ' .. queue_pk
        pushes[id] = pushes[id] or {command = command, queue_pk = queue_pk, name = record.queue_name, idents = {}}
        table.insert(pushes[id].idents, ident)
      end
      local fields = {'identifier', record.identifier, 'priority', priority, 'added', now_str,
                      'status', status, 'queued', '1', 'queue_key', key_queue(queue_model, queue_pk)}
      if record.delayed_str ~= '' then
        table.insert(fields, 'delayed_until')
        table.insert(fields, record.delayed_str)
      end
      for e = record.extra_at, record.extra_at + 3 * record.extra_count - 1, 3 do
        table.insert(fields, records[e])
        table.insert(fields, records[e + 1])
        if records[e + 2] == '1' then reindex(job_model, pk, records[e], false, records[e + 1]) end
      end
      redis.call('HSET', key_hash(job_model, pk), unpack(fields))
      reindex(job_model, pk, 'identifier', false, record.identifier)
      if status == DELAYED then reindex(job_model, pk, 'status', false, DELAYED) end
      table.insert(all_pks, pk)
      result[2 * n - 1], result[2 * n] = pk, 1
    end
  end
  -- batched writes, 5000 members per command at most (Lua's unpack limit is far above)
  local function add_all(command, key, members)
    for start = 1, #members, 5000 do
      redis.call(command, key, unpack(members, start, math.min(start + 4999, #members)))
    end
  end
  add_all('SADD', key_collection(job_model), all_pks)
  add_all('SADD', key_index(job_model, 'queued', '1'), all_pks)
  local waiting_pks = {}
  for _, push in pairs(pushes) do
    local waiting = queue_list(queue_model, push.queue_pk, 'waiting')
    local before = redis.call('LLEN', waiting)
    add_all(push.command, waiting, push.idents)
    if before == 0 then wake_up(queue_model, push.name, #push.idents) end
    for _, ident in ipairs(push.idents) do
      table.insert(waiting_pks, string.match(ident, ':([^:]+)$'))
    end
  end
  add_all('SADD', key_index(job_model, 'status', WAITING), waiting_pks)
end
for _, pk in ipairs(created_queues) do table.insert(result, pk) end
return result
