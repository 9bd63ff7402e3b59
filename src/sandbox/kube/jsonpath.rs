//! The JSONPath subset of printer columns and scale paths: `.a.b`, `[0]`, `[*]`,
//! `[?(@.type=="Ready")]`. Returns the first match, as the CRD table convertor prints it.
// TODO(kube-schema): delegate to `schema::printer::evaluate` once that branch is merged.

use serde_json::Value;

enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Ok(i) = inner.parse() {
                steps.push(Step::Index(i));
            } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = f.split_once("==")?;
                let v = v.trim().trim_matches(['"', '\'']);
                steps.push(Step::Filter(k.trim().to_string(), v.to_string()));
            } else {
                let key = inner.trim_matches(['"', '\'']);
                steps.push(Step::Field(key.to_string()));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

fn walk<'a>(steps: &[Step], cur: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(cur);
        return;
    };
    match step {
        Step::Field(f) => {
            if let Some(v) = cur.get(f) {
                walk(rest, v, out);
            }
        }
        Step::Index(i) => {
            if let Some(v) = cur.get(*i) {
                walk(rest, v, out);
            }
        }
        Step::All => {
            for v in cur.as_array().into_iter().flatten() {
                walk(rest, v, out);
            }
        }
        Step::Filter(k, want) => {
            for v in cur.as_array().into_iter().flatten() {
                let matches = match v.get(k) {
                    Some(Value::String(s)) => s == want,
                    Some(other) => want.as_str() == other.to_string().as_str(),
                    None => false,
                };
                if matches {
                    walk(rest, v, out);
                }
            }
        }
    }
}

/// The first value `path` selects in `obj`.
pub fn evaluate(path: &str, obj: &Value) -> Option<Value> {
    let steps = parse(path)?;
    let mut out = Vec::new();
    walk(&steps, obj, &mut out);
    out.first().map(|v| (*v).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths() {
        let obj = json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Ready", "status": "True"}]}, "spec": {"items": [1, 2]}});
        let eval = |p| evaluate(p, &obj);
        assert_eq!(
            eval(".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(eval(".spec.items[1]"), Some(json!(2)));
        assert_eq!(eval(".spec.items[*]"), Some(json!(1)));
        assert_eq!(eval(".spec.missing"), None);
    }
}
