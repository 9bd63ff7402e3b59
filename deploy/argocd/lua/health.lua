-- Argo CD health of a MendixPackage or MendixEnvironment, from its kstatus conditions:
-- Suspended when paused, Degraded when Stalled, Healthy when Ready for the latest generation,
-- Progressing otherwise.
local hs = { status = "Progressing", message = "Waiting for mendix-operator" }
local annotations = obj.metadata and obj.metadata.annotations
if annotations ~= nil and annotations["mendixops.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused: mendix-operator makes no remote changes (annotation mendixops.io/paused)"
  return hs
end
local status = obj.status
if status == nil or status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for mendix-operator to observe generation " .. tostring(generation)
  return hs
end
local found = {}
for _, condition in ipairs(status.conditions) do
  found[condition.type] = condition
end
local stalled = found["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
local ready = found["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
local reconciling = found["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" and reconciling.message ~= nil and reconciling.message ~= "" then
  hs.message = reconciling.message
elseif ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
end
return hs
