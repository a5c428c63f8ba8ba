-- Find or create the Queue (name, priority), atomically.
-- ARGV: queue_model, name, priority
-- RETURNS: queue_pk, created
local queue_pk, created = get_or_create_queue(queue_model, name, priority)
return {queue_pk, created}
