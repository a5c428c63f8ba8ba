-- Find or create the Queue (name, priority), atomically.
-- ARGV[1] queue model name, ARGV[2] queue name, ARGV[3] priority
-- Returns {queue_pk, created (0/1)}
local pk, created = get_or_create_queue(ARGV[1], ARGV[2], ARGV[3])
return {pk, created}
