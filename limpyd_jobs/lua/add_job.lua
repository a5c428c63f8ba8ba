-- Add a job, or return the job already queued with the same identifier, atomically.
-- ARGV[1] job model name        ARGV[2] job model repr (ident prefix)
-- ARGV[3] queue model name      ARGV[4] queue name                       ARGV[5] priority
-- ARGV[6] identifier            ARGV[7] now (stored string)              ARGV[8] now (score)
-- ARGV[9] delayed_until string or ''   ARGV[10] delayed_until score or ''   ARGV[11] prepend 0/1
-- ARGV[12..] extra fields of a new job, by threes: name, value, indexed (0/1)
-- Returns {job_pk, created (0/1), queue_pk, queue_created (0/1)}
local job_model, repr = ARGV[1], ARGV[2]
local queue_model, queue_name, priority = ARGV[3], ARGV[4], tonumber(ARGV[5])
local identifier, now_str, now_score = ARGV[6], ARGV[7], ARGV[8]
local delayed_str, delayed_score, prepend = ARGV[9], ARGV[10], ARGV[11]
register_model(repr, job_model)

local existing = find_queued(job_model, identifier)
if existing then
  return readd_existing(job_model, repr, existing, queue_model, queue_name, priority, now_score, prepend)
end

local fields, indexed = {}, {}
for i = 12, #ARGV, 3 do
  table.insert(fields, ARGV[i])
  table.insert(fields, ARGV[i + 1])
  if ARGV[i + 2] == '1' then indexed[ARGV[i]] = true end
end
local pk, queue_pk, queue_created = create_job(job_model, repr, queue_model, queue_name, priority,
  identifier, now_str, now_score, delayed_str, delayed_score, prepend, fields, indexed)
return {pk, 1, queue_pk, queue_created}
