-- predict.lua -- wrk script: one-row predictions (784 inputs) as JSON POSTs, with
-- Authorization: Bearer $NEUROND_TOKEN when that is set. NEUROND_PROTOCOL shapes the
-- body as a protocol's client sends it to its route (bench/http.sh picks the path):
--   native     {"inputs": [[...]]}                       POST /v1/models/{id}/predict
--   tfserving  {"instances": [[...]]}                    POST /v1/models/{name}:predict
--   kserve     {"inputs": [{"name", "shape": [1, F], "datatype": "FP32", "data": [...]}]}
--                                                        POST /v2/models/{name}/infer
--   mlflow     {"dataframe_split": {"data": [[...]]}}    POST /invocations?model={name}
-- NEUROND_FEATURES sets the row's width (784).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("NEUROND_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local F = tonumber(os.getenv("NEUROND_FEATURES") or "784")
local row = {}
for i = 1, F do row[i] = string.format("%.3f", (i % 17) / 17) end
local values = table.concat(row, ",")
local protocol = os.getenv("NEUROND_PROTOCOL") or "native"
if protocol == "tfserving" then
  wrk.body = '{"instances": [[' .. values .. ']]}'
elseif protocol == "kserve" then
  wrk.body = '{"inputs": [{"name": "inputs", "shape": [1, ' .. F ..
             '], "datatype": "FP32", "data": [' .. values .. ']}]}'
elseif protocol == "mlflow" then
  wrk.body = '{"dataframe_split": {"data": [[' .. values .. ']]}}'
else
  wrk.body = '{"inputs": [[' .. values .. ']]}'
end
