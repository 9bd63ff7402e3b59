-- Actions offered on a MendixEnvironment; pause and resume are offered according to the annotation.
local actions = {}
local annotations = obj.metadata and obj.metadata.annotations
local paused = annotations ~= nil and annotations["mendixops.io/paused"] == "true"
actions["restart"] = { disabled = paused }
actions["reconcile"] = {}
actions["pause"] = { disabled = paused }
actions["resume"] = { disabled = not paused }
return actions
