-- wrk script: debits of 1 minor unit against one budget (the "hot" burst).
-- TOKEN (bearer) and KEYED=1 (unique Idempotency-Key per request) come from the environment.
local token = os.getenv("TOKEN")
local keyed = os.getenv("KEYED") == "1"
local body = '{"amount":{"amount_minor":1,"currency":"EUR"}}'
local counter = 0
thread_ids = 0

setup = function(thread)
  thread:set("thread_id", thread_ids)
  thread_ids = thread_ids + 1
end

request = function()
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  if keyed then
    counter = counter + 1
    headers["Idempotency-Key"] = "bench-" .. thread_id .. "-" .. counter
  end
  return wrk.format("POST", nil, headers, body)
end
