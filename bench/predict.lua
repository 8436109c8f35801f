-- predict.lua -- wrk script: one-row predictions (784 inputs) as JSON POSTs, with
-- Authorization: Bearer $NEUROND_TOKEN when that is set.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("NEUROND_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local row = {}
for i = 1, 784 do row[i] = string.format("%.3f", (i % 17) / 17) end
wrk.body = '{"inputs": [[' .. table.concat(row, ",") .. ']]}'
-- with NEUROND_TOKEN set, every request carries it as a bearer token
local token = os.getenv("NEUROND_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
