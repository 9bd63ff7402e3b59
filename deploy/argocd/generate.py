#!/usr/bin/env python3
"""Regenerates argocd-cm.yaml from lua/*.lua (run from deploy/argocd/). tests/argocd.rs fails while they differ."""
import io

KINDS = [
    ("MendixPackage", "discovery-package.lua", ["reconcile", "pause", "resume"]),
    ("MendixEnvironment", "discovery-environment.lua", ["restart", "reconcile", "pause", "resume"]),
]


def read(name):
    with open(f"lua/{name}") as f:
        return f.read()


def indent(text, prefix):
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


out = io.StringIO()
out.write(
    "# Argo CD health checks and resource actions for mendix-operator's kinds.\n"
    "# Merge into your argocd-cm (e.g. as a kustomize patch). Generated from lua/*.lua by generate.py;\n"
    "# a test keeps them identical.\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n"
    "  labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n"
)
for kind, discovery, actions in KINDS:
    out.write(f"  resource.customizations.health.mendixops.io_{kind}: |\n")
    out.write(indent(read("health.lua"), "    "))
    out.write(f"  resource.customizations.actions.mendixops.io_{kind}: |\n")
    out.write("    discovery.lua: |\n" + indent(read(discovery), "      "))
    out.write("    definitions:\n")
    for action in actions:
        out.write(f"      - name: {action}\n        action.lua: |\n")
        out.write(indent(read(f"{action}.lua"), "          "))
with open("argocd-cm.yaml", "w") as f:
    f.write(out.getvalue())
