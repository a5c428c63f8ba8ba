-- Set aside an ident a worker took that names no job it can load: it leaves the worker's running
-- set for a list where an operator finds it (the queue's `errors` list), atomically.
-- ARGV: worker, ident, list_key
-- RETURNS: done
-- RETRY: safe, the ident is in the list once
redis.call('ZREM', key_running(worker), ident)
redis.call('LREM', list_key, 0, ident)
redis.call('RPUSH', list_key, ident)
return 1
