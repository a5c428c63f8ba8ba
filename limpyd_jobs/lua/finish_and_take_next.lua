-- Record the successful end of a job and take the next one, in one round trip.
-- KEYS: the waiting lists to take the next job from, highest priority first.
-- ARGV[1..10] as for finish_job.lua   ARGV[11] worker id   ARGV[12] now (stored string)
-- ARGV[13] now (score)   ARGV[14] count waiting/delayed jobs (1) or not (0)
-- ARGV[15] unused here (0)   ARGV[16..] delayed sets, only counted
-- The next job is taken only if the end was recorded (the job was ARGV[9], usually RUNNING).
-- Returns {finish result} or {finish result, the 9 values of fetch_job.lua}
local previous = finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9],
                        ARGV[10])
if previous ~= ARGV[9] then return {previous} end
local delayed_keys = {}
for i = 16, #ARGV do delayed_keys[#delayed_keys + 1] = ARGV[i] end
local next_job = take_next(KEYS, ARGV[11], ARGV[12], ARGV[13], ARGV[14] == '1', delayed_keys)
table.insert(next_job, 1, previous)
return next_job
