#!/usr/bin/env python3
"""Regenerates prometheusrule.yaml from alerts.yaml (run from deploy/monitoring/).
tests/monitoring.rs fails while their rules differ."""


def indent(text, prefix):
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


with open("alerts.yaml") as f:
    rules = f.read()
# The rule groups, without the file's own header comment.
body = rules[rules.index("\ngroups:") + 1:]

with open("prometheusrule.yaml", "w") as f:
    f.write(
        "# The alerts of alerts.yaml as a PrometheusRule, for the Prometheus Operator. Generated from\n"
        "# alerts.yaml by generate.py; a test keeps them identical. Add the labels your Prometheus'\n"
        "# ruleSelector asks for (e.g. `release: kube-prometheus-stack`) with a kustomize patch.\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: mendix-operator\n"
        "spec:\n"
    )
    f.write(indent(body, "  "))
