-- Stop all remote writes for this resource until resumed.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["mendixops.io/paused"] = "true"
return obj
