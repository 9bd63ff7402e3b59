-- Resume remote writes.
if obj.metadata.annotations ~= nil then
  obj.metadata.annotations["mendixops.io/paused"] = nil
end
return obj
