-- Add a job, or return the job already queued with the same identifier and queue name, atomically.
-- ARGV: job_model, model_repr, register, queue_model, queue_name, priority, identifier, now_str, now_score, delayed_str, delayed_score, prepend, new_job, fields...
-- RETURNS: job_pk, created, queue_pk, queue_created
-- RETRY: safe, the job queued with the identifier and queue name is found and returned
-- model_repr: the job model's repr, the start of its idents; delayed_str and delayed_score: '' when
-- not delayed; prepend: 0/1; new_job: what to do when no job is queued with the identifier under
-- that queue name (one job per identifier and queue name, as the seed says):
-- 'create' one, 'none' (job_pk is then ''), or the pk of an instance made already (with its
-- identifier, priority and own fields: those limpyd itself must write) to make the new job of;
-- fields: more fields of a new job, by threes: name, value, indexed (0/1). A job already queued
-- gets add_job's rules (see readd_existing); created is then 0.
if register == '1' then register_model(model_repr, job_model) end  -- once per process is enough
local existing, fields_found = find_queued(job_model, queue_model, identifier, queue_name)
if existing then
  return readd_existing(job_model, model_repr, existing, fields_found, queue_model, queue_name, tonumber(priority),
                        now_score, prepend)
end
if new_job == 'none' then return {'', 0, '', 0} end
local pk, queue_pk, queue_created = create_job(job_model, model_repr, queue_model, queue_name, priority,
  identifier, now_str, now_score, delayed_str, delayed_score, prepend, fields, new_job ~= 'create' and new_job or nil)
return {pk, 1, queue_pk, queue_created}
