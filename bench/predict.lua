-- predict.lua -- wrk script: one-row predictions (784 inputs) as JSON POSTs.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local row = {}
for i = 1, 784 do row[i] = string.format("%.3f", (i % 17) / 17) end
wrk.body = '{"inputs": [[' .. table.concat(row, ",") .. ']]}'
