-- Force a reconcile now: a new value of mendixops.io/reconcileRequestedAt.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["mendixops.io/reconcileRequestedAt"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
