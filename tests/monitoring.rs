//! The monitoring that ships in `deploy/monitoring/`, checked with the real promtool (built from
//! `crates/testkit/tools/promtool/`): the rules are valid, their unit tests pass and cover every
//! alert both ways, every alert has its runbook section, the PrometheusRule carries exactly the
//! rules of alerts.yaml, and every metric the rules and the dashboard query is one a running
//! operator exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mendix_operator::crd::{MendixEnvironment, MendixPackage};
use mendix_sandbox::{Fault, demo};
use mendix_testkit::promtool::promtool;
use mendix_testkit::resources::cloud_env;
use mendix_testkit::*;
use regex::Regex;
use serde_json::Value;

/// Where every alert's `runbook_url` points, before the section's anchor.
const RUNBOOKS: &str =
    "https://github.com/mendixops/mendix-operator/blob/main/deploy/monitoring/runbooks.md";

/// Labels Prometheus adds from the scrape target, not the operator.
const TARGET_LABELS: &[&str] = &["namespace", "job", "pod", "instance"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring")
}

fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} readable: {e}", path.display()))
}

fn yaml(name: &str) -> Value {
    serde_yaml::from_str(&read(name)).unwrap_or_else(|e| panic!("{name} is YAML: {e}"))
}

/// The alerting rules of alerts.yaml.
fn alerts() -> Vec<Value> {
    let rules: Vec<Value> = yaml("alerts.yaml")["groups"]
        .as_array()
        .expect("alerts.yaml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(!rules.is_empty(), "alerts.yaml has rules");
    rules
}

fn alert_name(rule: &Value) -> &str {
    rule["alert"].as_str().expect("every rule is an alert")
}

/// The unit test files of deploy/monitoring/tests/, sorted.
fn unit_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir().join("tests"))
        .expect("deploy/monitoring/tests/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "unit tests exist");
    files
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_accepts_the_rules() {
    let (ok, out) = run(Command::new(promtool())
        .args(["check", "rules", "--lint=all", "--lint-fatal"])
        .arg(dir().join("alerts.yaml")));
    assert!(ok, "promtool check rules:\n{out}");
    let count = alerts().len();
    assert!(
        out.contains(&format!("SUCCESS: {count} rules found")),
        "{out}"
    );
}

#[test]
fn promtool_unit_tests_pass_and_cover_every_alert_both_ways() {
    let files = unit_test_files();
    // What the unit tests say, per alert: does a case expect it to fire, one expect silence?
    let mut fires: BTreeMap<String, usize> = BTreeMap::new();
    let mut silent: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("test file readable");
        let doc: Value = serde_yaml::from_str(&text).expect("test file is YAML");
        assert_eq!(
            doc["rule_files"],
            serde_json::json!(["../alerts.yaml"]),
            "{} tests the shipped rules",
            file.display()
        );
        for group in doc["tests"].as_array().expect("tests") {
            groups += 1;
            assert!(
                group["name"].as_str().is_some_and(|n| !n.is_empty()),
                "every test group has a name (the JUnit case): {group}"
            );
            for case in group["alert_rule_test"].as_array().into_iter().flatten() {
                let name = case["alertname"].as_str().expect("alertname").to_string();
                let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
                let tally = if expected > 0 {
                    &mut fires
                } else {
                    &mut silent
                };
                *tally.entry(name).or_default() += 1;
            }
        }
    }
    let known: BTreeSet<String> = alerts().iter().map(|r| alert_name(r).into()).collect();
    for name in &known {
        assert!(fires.contains_key(name), "no unit test where {name} fires");
        assert!(
            silent.contains_key(name),
            "no unit test where {name} stays silent"
        );
    }
    let tested: BTreeSet<String> = fires.keys().chain(silent.keys()).cloned().collect();
    let unknown: Vec<&String> = tested.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "unit tests of unknown alerts: {unknown:?}"
    );

    let junit = tempfile::NamedTempFile::new().expect("a file for the JUnit report");
    let (ok, out) = run(Command::new(promtool())
        .arg("test")
        .arg(format!("--junit={}", junit.path().display()))
        .arg("rules")
        .args(&files));
    assert!(ok, "promtool test rules:\n{out}");
    // Every test group ran (one JUnit case each) and none failed.
    let report = std::fs::read_to_string(junit.path()).expect("JUnit report");
    let ran = report.matches("<testcase").count();
    assert_eq!(ran, groups, "every test group ran:\n{report}");
    assert!(!report.contains("<failure"), "{report}");
    let cases: usize = fires.values().chain(silent.values()).sum();
    eprintln!(
        "promtool ran {groups} test groups with {cases} alert checks ({} firing, {} silent) over {} alerts",
        fires.values().sum::<usize>(),
        silent.values().sum::<usize>(),
        known.len()
    );
}

/// A Markdown heading's anchor as GitHub renders it.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook_section() {
    let runbooks = read("runbooks.md");
    // Section anchor → its text.
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    for part in runbooks.split("\n## ").skip(1) {
        let (heading, body) = part.split_once('\n').unwrap_or((part, ""));
        sections.insert(anchor(heading), body.to_string());
    }
    let mut documented = BTreeSet::new();
    for rule in alerts() {
        let name = alert_name(&rule);
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("critical" | "warning" | "info")
            ),
            "{name} has a severity label"
        );
        for key in ["summary", "description"] {
            assert!(
                rule["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name} has a {key}"
            );
        }
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a runbook_url"));
        let (page, fragment) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{name}'s runbook_url points to a section: {url}"));
        assert_eq!(page, RUNBOOKS, "{name}'s runbook_url");
        assert_eq!(
            fragment,
            name.to_lowercase(),
            "{name}'s section is named after it"
        );
        let body = sections
            .get(fragment)
            .unwrap_or_else(|| panic!("runbooks.md has no section `## {name}`"));
        for part in ["**What it means.**", "**How to check.**", "**What to do.**"] {
            assert!(body.contains(part), "{name}'s runbook says {part}");
        }
        documented.insert(fragment.to_string());
    }
    let stale: Vec<&String> = sections
        .keys()
        .filter(|s| !documented.contains(*s))
        .collect();
    assert!(stale.is_empty(), "runbook sections of no alert: {stale:?}");
}

#[test]
fn prometheusrule_carries_exactly_the_rules_of_alerts_yaml() {
    let rule = yaml("prometheusrule.yaml");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert!(
        rule["spec"] == yaml("alerts.yaml"),
        "prometheusrule.yaml differs from alerts.yaml: run `python3 generate.py` in deploy/monitoring"
    );
}

#[test]
fn the_kustomization_renders_and_scrapes_the_shipped_service() {
    let docs: Vec<Value> = mendix_testkit::kustomize("deploy/monitoring");
    let by_kind = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} is rendered"))
    };
    assert_eq!(by_kind("PrometheusRule")["spec"], yaml("alerts.yaml"));
    let dashboard = &by_kind("ConfigMap")["data"]["grafana-dashboard.json"];
    assert_eq!(
        dashboard.as_str(),
        Some(read("grafana-dashboard.json").as_str())
    );
    // The ServiceMonitor scrapes a port the operator's Service has.
    let service: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_path("deploy/base/service.yaml")).expect("service.yaml"),
    )
    .expect("service.yaml is YAML");
    let ports: Vec<&str> = service["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for endpoint in by_kind("ServiceMonitor")["spec"]["endpoints"]
        .as_array()
        .expect("endpoints")
    {
        let port = endpoint["port"].as_str().expect("a named port");
        assert!(ports.contains(&port), "port {port} is one of {ports:?}");
    }
}

/// Every string in a JSON document (a dashboard's queries, legends, variables), one a line.
fn strings(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read("grafana-dashboard.json")).expect("the dashboard is JSON")
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_on_one_data_source() {
    let d = dashboard();
    assert_eq!(d["uid"], "mendix-operator");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "job"]);
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for panel in panels {
        let id = panel["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} is unique");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap_or(99) + grid["w"].as_u64().unwrap_or(99) <= 24,
            "panel {id} fits the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {id} uses the chosen data source"
        );
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a PromQL query");
            assert!(
                expr.contains(r#"namespace=~"$namespace", job=~"$job""#),
                "panel {id} follows the variables: {expr}"
            );
            queries += 1;
        }
    }
    assert!(queries >= 15, "{queries} queries");
}

/// A family of the exposition: its name and type (`# TYPE`).
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

/// The series names Prometheus stores for a family of each type.
fn series_names(family: &str, kind: &str) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        "counter" => &["_total"],
        "histogram" => &["_bucket", "_sum", "_count"],
        "info" => &["_info"],
        _ => &[""],
    };
    suffixes.iter().map(|s| format!("{family}{s}")).collect()
}

/// Label names of each sample name in the exposition.
fn sample_labels(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)=""#).expect("regex");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let labels = out.entry(name.to_string()).or_default();
        if let Some((_, rest)) = line.split_once('{') {
            let body = rest.rsplit_once('}').map_or(rest, |(b, _)| b);
            labels.extend(label.captures_iter(body).map(|c| c[1].to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_dashboard_query_only_what_a_running_operator_exposes() {
    let h = Harness::started().await;
    // A little work, so every labelled family has samples: a build, an environment deployed,
    // and a retried read.
    h.mendix
        .add_fault(Fault::error("v1_get_environment", 503).times(1));
    h.create::<MendixPackage>(&cloud_build("calc", demo::GOOD_REVISION, "1.0.0"))
        .await;
    h.create::<MendixEnvironment>(&cloud_env("calc-test", "Test", "calc", ""))
        .await;
    h.wait_package("calc", package_ready).await;
    h.wait_environment("calc-test", environment_ready).await;
    let addr = h.metrics_addr.expect("the operator serves metrics");
    let text = wait_for(
        "every family to have samples",
        || async {
            let text = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            Some(text)
        },
        |text| {
            let present = sample_labels(text);
            families(text)
                .iter()
                .all(|(f, k)| series_names(f, k).iter().any(|s| present.contains_key(s)))
        },
    )
    .await;
    let families = families(&text);
    let present = sample_labels(&text);
    let exposed: BTreeMap<String, String> = families
        .iter()
        .flat_map(|(f, k)| series_names(f, k).into_iter().map(move |s| (s, f.clone())))
        .collect();

    let mut rule_queries = String::new();
    for rule in alerts() {
        rule_queries.push_str(rule["expr"].as_str().expect("expr"));
        rule_queries.push('\n');
    }
    let mut dashboard_queries = String::new();
    strings(&dashboard(), &mut dashboard_queries);

    let metric = Regex::new(r"\bmendix_operator_[a-zA-Z0-9_]*").expect("regex");
    let selector = Regex::new(r"\b(mendix_operator_[a-zA-Z0-9_]*)\s*\{([^}]*)\}").expect("regex");
    let matcher = Regex::new(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)").expect("regex");
    let mut used_families = BTreeSet::new();
    for (what, queries) in [
        ("alerts.yaml", &rule_queries),
        ("the dashboard", &dashboard_queries),
    ] {
        let mut names = 0;
        for m in metric.find_iter(queries) {
            let family = exposed.get(m.as_str()).unwrap_or_else(|| {
                panic!(
                    "{what} queries {}, which the operator does not expose; it exposes: {:?}",
                    m.as_str(),
                    exposed.keys().collect::<Vec<_>>()
                )
            });
            used_families.insert(family.clone());
            names += 1;
        }
        assert!(names > 0, "{what} queries the operator's metrics");
        // Label matchers name labels the series has (or the scrape target adds).
        for s in selector.captures_iter(queries) {
            let have = present
                .get(&s[1])
                .unwrap_or_else(|| panic!("{what}: {} has no samples", &s[1]));
            for label in matcher.captures_iter(&s[2]) {
                let label = &label[1];
                assert!(
                    have.contains(label) || TARGET_LABELS.contains(&label),
                    "{what}: {} has no label {label} (it has {have:?})",
                    &s[1]
                );
            }
        }
    }
    // The dashboard shows every family: a new metric gets a panel.
    let unshown: Vec<&String> = families
        .keys()
        .filter(|f| !dashboard_queries.contains(f.as_str()))
        .collect();
    assert!(
        unshown.is_empty(),
        "families on no dashboard panel: {unshown:?}"
    );
    eprintln!(
        "alerts and dashboard query {} of the {} families exposed",
        used_families.len(),
        families.len()
    );
}
