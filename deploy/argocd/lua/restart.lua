-- Restart the app once: mendix-operator restarts on every new value of mendixops.io/restartedAt.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["mendixops.io/restartedAt"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
