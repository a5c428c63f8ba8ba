-- Redis's clock, for the decisions hosts must agree on (liveness, due times).
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- `given` as a number if the caller gave a time (a clock injected by tests), else Redis's TIME
-- in seconds since 1970 (Redis 7 replicates a script by its effects, so TIME is allowed).
local function now_or_server(given)
  local now = tonumber(given)
  if now then return now end
  local time = redis.call('TIME')
  return tonumber(time[1]) + tonumber(time[2]) / 1000000
end
