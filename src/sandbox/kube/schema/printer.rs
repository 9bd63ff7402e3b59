//! The kubectl JSONPath subset used by `additionalPrinterColumns`, and the cell conversion the
//! API server applies when it builds a `Table`:
//! `.a.b`, `['a.b']`, `[0]`, `[-1]`, `[*]`, `.*`, `..name`, `[0:2]` and filters
//! `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` or plain existence `[?(@.x)]`.

use serde_json::Value;

/// The first value `json_path` selects in `obj`, as the API server takes the first result of
/// a printer column; `None` when nothing matches or the path does not parse.
pub fn evaluate(json_path: &str, obj: &Value) -> Option<Value> {
    evaluate_all(json_path, obj).ok()?.into_iter().next()
}

/// Every value `json_path` selects, in document order; an error says why the path is invalid.
pub fn evaluate_all(json_path: &str, obj: &Value) -> Result<Vec<Value>, String> {
    let steps = parse(json_path)?;
    let mut current: Vec<&Value> = vec![obj];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            apply(step, value, &mut next);
        }
        current = next;
    }
    Ok(current.into_iter().cloned().collect())
}

/// A Table cell for a column of `column_type` (`integer`, `number`, `boolean`, `string`,
/// `date`), from the selected value; `date` cells become ages (`5m`, `3d4h`) relative to `now`.
pub fn cell(column_type: &str, value: Option<&Value>, now: chrono::DateTime<chrono::Utc>) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    match column_type {
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Value::from)
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "number" => value.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => value.as_bool().map(Value::Bool).unwrap_or(Value::Null),
        "date" => match value.as_str() {
            Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => Value::String(human_duration(now - t.with_timezone(&chrono::Utc))),
                Err(_) => Value::String("<invalid>".into()),
            },
            None => Value::Null,
        },
        // "string" and anything else: text as kubectl's JSONPath printer prints it.
        _ => match value {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        },
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Recursive(Option<String>),
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<String>,
    op: Option<(Op, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn parse(json_path: &str) -> Result<Vec<Step>, String> {
    let mut s = json_path.trim();
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        s = inner.trim();
    }
    s = s.strip_prefix('$').unwrap_or(s);
    let chars: Vec<char> = s.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                i += 2;
                let name = take_name(&chars, &mut i);
                steps.push(Step::Recursive((!name.is_empty()).then_some(name)));
            }
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    steps.push(Step::Wildcard);
                } else {
                    let name = take_name(&chars, &mut i);
                    if !name.is_empty() {
                        steps.push(Step::Field(name));
                    }
                }
            }
            '[' => {
                let close = find_close(&chars, i)?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                let name = take_name(&chars, &mut i);
                if name.is_empty() {
                    return Err(format!(
                        "unexpected character {:?} in {json_path:?}",
                        chars[i]
                    ));
                }
                steps.push(Step::Field(name));
            }
        }
    }
    Ok(steps)
}

fn take_name(chars: &[char], i: &mut usize) -> String {
    let start = *i;
    while *i < chars.len() && !matches!(chars[*i], '.' | '[') {
        *i += 1;
    }
    chars[start..*i]
        .iter()
        .collect::<String>()
        .trim()
        .to_string()
}

/// The `]` closing the bracket at `open`, skipping quoted text and nested brackets.
fn find_close(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err("unclosed [ in JSONPath".into())
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(quoted) = unquote(inner) {
        return Ok(Step::Field(quoted));
    }
    if let Some(expr) = inner.strip_prefix("?(").and_then(|r| r.strip_suffix(')')) {
        return parse_filter(expr.trim()).map(Step::Filter);
    }
    if let Some((a, b)) = inner.split_once(':') {
        let bound = |s: &str| -> Result<Option<i64>, String> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("invalid slice bound {s:?}"))
            }
        };
        let b = b.split(':').next().unwrap_or("");
        return Ok(Step::Slice(bound(a)?, bound(b)?));
    }
    inner
        .parse::<i64>()
        .map(Step::Index)
        .map_err(|_| format!("invalid array index {inner:?}"))
}

fn unquote(s: &str) -> Option<String> {
    let first = s.chars().next()?;
    if (first == '\'' || first == '"') && s.len() >= 2 && s.ends_with(first) {
        Some(s[1..s.len() - 1].to_string())
    } else {
        None
    }
}

fn parse_filter(expr: &str) -> Result<Filter, String> {
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (left, op) = match OPS
        .iter()
        .find_map(|(tok, op)| expr.find(tok).map(|at| (at, tok, *op)))
    {
        Some((at, tok, op)) => {
            let right = expr[at + tok.len()..].trim();
            let literal = if let Some(s) = unquote(right) {
                Value::String(s)
            } else {
                serde_json::from_str(right)
                    .map_err(|_| format!("invalid filter literal {right:?}"))?
            };
            (expr[..at].trim(), Some((op, literal)))
        }
        None => (expr, None),
    };
    let left = left
        .strip_prefix('@')
        .ok_or_else(|| format!("filter must start with @: {expr:?}"))?;
    let fields = left
        .split('.')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Filter { left: fields, op })
}

fn apply<'a>(step: &Step, value: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(v) = value.get(name.as_str()) {
                out.push(v);
            }
        }
        Step::Wildcard => match value {
            Value::Array(items) => out.extend(items.iter()),
            Value::Object(map) => out.extend(map.values()),
            _ => {}
        },
        Step::Recursive(name) => descend(value, name.as_deref(), out),
        Step::Index(i) => {
            if let Value::Array(items) = value {
                let idx = if *i < 0 { items.len() as i64 + i } else { *i };
                if let Some(v) = usize::try_from(idx).ok().and_then(|i| items.get(i)) {
                    out.push(v);
                }
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(items) = value {
                let len = items.len() as i64;
                let norm = |b: i64| if b < 0 { (len + b).max(0) } else { b.min(len) };
                let s = norm(start.unwrap_or(0)) as usize;
                let e = norm(end.unwrap_or(len)) as usize;
                if s < e {
                    out.extend(items[s..e].iter());
                }
            }
        }
        Step::Filter(filter) => {
            let candidates: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(map) => map.values().collect(),
                _ => Vec::new(),
            };
            out.extend(candidates.into_iter().filter(|c| filter.matches(c)));
        }
    }
}

fn descend<'a>(value: &'a Value, name: Option<&str>, out: &mut Vec<&'a Value>) {
    match name {
        Some(name) => {
            if let Some(v) = value.get(name) {
                out.push(v);
            }
        }
        None => out.push(value),
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| descend(v, name, out)),
        Value::Object(map) => map.values().for_each(|v| descend(v, name, out)),
        _ => {}
    }
}

impl Filter {
    fn matches(&self, candidate: &Value) -> bool {
        let mut left = Some(candidate);
        for field in &self.left {
            left = left.and_then(|v| v.get(field.as_str()));
        }
        let Some(left) = left else {
            return false;
        };
        let Some((op, right)) = &self.op else {
            return true;
        };
        match op {
            Op::Eq => loose_eq(left, right),
            Op::Ne => !loose_eq(left, right),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match (left.as_f64(), right.as_f64()) {
                (Some(l), Some(r)) => match op {
                    Op::Lt => l < r,
                    Op::Le => l <= r,
                    Op::Gt => l > r,
                    _ => l >= r,
                },
                _ => false,
            },
        }
    }
}

/// kubectl compares filter operands by their printed form, so `1 == "1"` holds.
fn loose_eq(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text(a) == text(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env() -> Value {
        json!({
            "metadata": {"name": "prod", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "labels": {"app.kubernetes.io/name": "calc"}},
            "status": {
                "instances": 2,
                "conditions": [
                    {"type": "Reconciling", "status": "False"},
                    {"type": "Ready", "status": "True"}
                ],
                "operation": {"step": "2/4: transporting"}
            }
        })
    }

    #[test]
    fn printer_column_paths() {
        let obj = env();
        assert_eq!(
            evaluate(r#".status.conditions[?(@.type=="Ready")].status"#, &obj),
            Some(json!("True"))
        );
        assert_eq!(evaluate(".status.instances", &obj), Some(json!(2)));
        assert_eq!(
            evaluate(".status.operation.step", &obj),
            Some(json!("2/4: transporting"))
        );
        assert_eq!(
            evaluate(".status.conditions[0].type", &obj),
            Some(json!("Reconciling"))
        );
        assert_eq!(
            evaluate(".status.conditions[-1].type", &obj),
            Some(json!("Ready"))
        );
        assert_eq!(
            evaluate_all(".status.conditions[*].type", &obj).unwrap(),
            vec![json!("Reconciling"), json!("Ready")]
        );
        assert_eq!(
            evaluate(".metadata.labels['app.kubernetes.io/name']", &obj),
            Some(json!("calc"))
        );
        assert_eq!(evaluate("{.metadata.name}", &obj), Some(json!("prod")));
        assert_eq!(evaluate("$.metadata.name", &obj), Some(json!("prod")));
        assert_eq!(evaluate(".status.phase", &obj), None);
        assert_eq!(
            evaluate(r#".status.conditions[?(@.type=="Stalled")].status"#, &obj),
            None
        );
        assert_eq!(
            evaluate_all("..type", &obj).unwrap(),
            vec![json!("Reconciling"), json!("Ready")]
        );
        assert_eq!(
            evaluate_all(".status.conditions[0:1].type", &obj).unwrap(),
            vec![json!("Reconciling")]
        );
        assert_eq!(
            evaluate_all(".status.conditions[?(@.status)].type", &obj)
                .unwrap()
                .len(),
            2
        );
        assert!(evaluate_all(".status[", &obj).is_err());
    }

    #[test]
    fn filters_compare_numbers_and_text() {
        let obj = json!({"items": [{"n": 1, "s": "a"}, {"n": 5, "s": "b"}]});
        assert_eq!(evaluate("{.items[?(@.n > 2)].s}", &obj), Some(json!("b")));
        assert_eq!(evaluate("{.items[?(@.n <= 1)].s}", &obj), Some(json!("a")));
        assert_eq!(evaluate("{.items[?(@.s != 'a')].n}", &obj), Some(json!(5)));
        assert_eq!(evaluate("{.items[?(@.n == 5)].s}", &obj), Some(json!("b")));
    }

    #[test]
    fn cells_follow_the_column_type() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:05:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(cell("integer", Some(&json!(2)), now), json!(2));
        assert_eq!(cell("integer", Some(&json!(2.0)), now), json!(2));
        assert_eq!(cell("integer", Some(&json!("x")), now), Value::Null);
        assert_eq!(cell("string", Some(&json!("True")), now), json!("True"));
        assert_eq!(cell("string", Some(&json!(3)), now), json!("3"));
        assert_eq!(cell("boolean", Some(&json!(true)), now), json!(true));
        assert_eq!(cell("number", Some(&json!(1)), now), json!(1.0));
        assert_eq!(
            cell("date", Some(&json!("2026-01-01T00:00:00Z")), now),
            json!("5m")
        );
        assert_eq!(
            cell("date", Some(&json!("garbage")), now),
            json!("<invalid>")
        );
        assert_eq!(cell("string", None, now), Value::Null);
    }

    #[test]
    fn ages_print_like_kubectl() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(150)), "2m30s");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(3 * 3600 + 60)), "3h1m");
        assert_eq!(human_duration(d(10 * 3600)), "10h");
        assert_eq!(human_duration(d(3 * 86400 + 3600)), "3d1h");
        assert_eq!(human_duration(d(30 * 86400)), "30d");
        assert_eq!(human_duration(d(3 * 365 * 86400)), "3y");
        assert_eq!(human_duration(d(-5)), "<invalid>");
    }
}
