//! The user guide in `docs/` held to the code:
//!
//! - `docs/troubleshooting.md` has a section for every condition reason the operator can set,
//!   and none for a reason it no longer sets (see [`condition_reasons`] for how they are found);
//! - relative links in `docs/` resolve, to a file and, for a Markdown file, to a heading;
//! - every YAML block in `docs/` parses, and the Mendix resources in them are valid against the
//!   CRD schemas (types, enums, patterns, and no field the schema does not have);
//! - every `kubectl mendix` verb and flag the docs show exists in the plugin;
//! - `docs/monitoring.md` names every metric family the operator registers, and no other.
//!
//! It reads files only: no cluster, no network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every Markdown file of `docs/`, as (path relative to the repository, text).
fn docs() -> Vec<(String, String)> {
    let dir = root().join("docs");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let name = format!("docs/{}", p.file_name().expect("name").to_string_lossy());
            (name, read(&p))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "docs/ has no Markdown file");
    files
}

// ---------------------------------------------------------------------------------------------
// Rust source, as tokens
// ---------------------------------------------------------------------------------------------

/// Just enough of Rust's lexical grammar to find calls and their arguments: comments are
/// dropped, string literals (also raw and byte strings) are one token, char literals and
/// lifetimes are told apart.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    /// A char literal without escape, `'x'`.
    Char(char),
    /// Numbers, other char literals and lifetimes: nothing here looks into them.
    Other,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn lex(source: &str) -> Vec<Token> {
    let c: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied().unwrap_or('\0');
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((len, value)) = raw_string(&c[i..]) {
            out.push(Token {
                tok: Tok::Str(value.clone()),
                line,
            });
            line += value.matches('\n').count();
            i += len;
        } else if ch == '"' || (ch == 'b' && next == '"') {
            let start_line = line;
            i += if ch == 'b' { 2 } else { 1 };
            let mut value = String::new();
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    if let Some(&escaped) = c.get(i + 1) {
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        if escaped == '\n' {
                            line += 1;
                        }
                    }
                    i += 2;
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    value.push(c[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(Token {
                tok: Tok::Str(value),
                line: start_line,
            });
        } else if ch == '\'' {
            // 'x', '\n', '\'' and '\u{..}' are char literals; 'a (no closing quote) a lifetime.
            let mut tok = Tok::Other;
            if next == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                tok = Tok::Char(next);
                i += 3;
            } else {
                i += 1;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
            }
            out.push(Token { tok, line });
        } else if ident_start(ch) {
            // A raw identifier r#name is the identifier name.
            if ch == 'r' && next == '#' && c.get(i + 2).is_some_and(|&n| ident_start(n)) {
                i += 2;
            }
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(c[start..i].iter().collect()),
                line,
            });
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (ident_char(c[i])
                    || (c[i] == '.' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Other,
                line,
            });
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"`: its length in chars and its value.
fn raw_string(c: &[char]) -> Option<(usize, String)> {
    let mut i = 0;
    if c.first() == Some(&'b') {
        i += 1;
    }
    if c.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if c.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    let start = i;
    while i < c.len() {
        if c[i] == '"' && (0..hashes).all(|h| c.get(i + 1 + h) == Some(&'#')) {
            return Some((i + 1 + hashes, c[start..i].iter().collect()));
        }
        i += 1;
    }
    None
}

/// The index of the token that closes the bracket opened at `open`.
fn closing(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

fn is_punct(t: Option<&Token>, ch: char) -> bool {
    t.is_some_and(|t| t.tok == Tok::Punct(ch))
}

fn is_ident(t: Option<&Token>, name: &str) -> bool {
    matches!(t.map(|t| &t.tok), Some(Tok::Ident(n)) if n == name)
}

/// Drops every item under `#[cfg(test)]`: test code sets no condition of a running operator.
fn without_tests(tokens: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let cfg_test = is_punct(tokens.get(i), '#')
            && is_punct(tokens.get(i + 1), '[')
            && is_ident(tokens.get(i + 2), "cfg")
            && is_punct(tokens.get(i + 3), '(')
            && is_ident(tokens.get(i + 4), "test")
            && is_punct(tokens.get(i + 5), ')');
        if !cfg_test {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        // Skip the attribute, then the item: up to its `;` or the end of its `{ … }`.
        let mut j = closing(&tokens, i + 1) + 1;
        while j < tokens.len() {
            match tokens[j].tok {
                Tok::Punct('(' | '[') => j = closing(&tokens, j) + 1,
                Tok::Punct(';') => break,
                Tok::Punct('{') => {
                    j = closing(&tokens, j);
                    break;
                }
                _ => j += 1,
            }
        }
        i = j + 1;
    }
    out
}

/// One source file of the operator, tokenized, without its tests.
struct SourceFile {
    /// Relative to the repository, e.g. `src/controller/verdict.rs`.
    path: String,
    tokens: Vec<Token>,
    /// Every `fn` with a body: (name, index of its `{`, index of its `}`).
    functions: Vec<(String, usize, usize)>,
}

impl SourceFile {
    fn parse(path: String, source: &str) -> Self {
        let tokens = without_tests(lex(source));
        let mut functions = Vec::new();
        for i in 0..tokens.len() {
            let Some(Tok::Ident(name)) = tokens.get(i + 1).map(|t| &t.tok) else {
                continue;
            };
            if !is_ident(tokens.get(i), "fn") {
                continue;
            }
            let mut j = i + 2;
            while j < tokens.len() {
                match tokens[j].tok {
                    Tok::Punct('(' | '[') => j = closing(&tokens, j) + 1,
                    Tok::Punct(';') => break,
                    Tok::Punct('{') => {
                        functions.push((name.clone(), j, closing(&tokens, j)));
                        break;
                    }
                    _ => j += 1,
                }
            }
        }
        Self {
            path,
            tokens,
            functions,
        }
    }

    /// The innermost function whose body holds token `at`.
    fn enclosing(&self, at: usize) -> Option<&(String, usize, usize)> {
        self.functions
            .iter()
            .filter(|(_, open, close)| *open < at && at < *close)
            .max_by_key(|(_, open, _)| *open)
    }

    /// The arguments of the call whose `(` is at `open`, split at top-level commas.
    fn arguments(&self, open: usize) -> Vec<&[Token]> {
        let close = closing(&self.tokens, open);
        let mut args = Vec::new();
        let (mut start, mut i) = (open + 1, open + 1);
        while i < close {
            match self.tokens[i].tok {
                Tok::Punct('(' | '[' | '{') => i = closing(&self.tokens, i) + 1,
                // A closure's parameters (`|a, b|`) hold commas that separate no arguments.
                Tok::Punct('|')
                    if i == start
                        || (i == start + 1 && is_ident(self.tokens.get(start), "move")) =>
                {
                    i += 1;
                    while i < close && !is_punct(self.tokens.get(i), '|') {
                        i += 1;
                    }
                    i += 1;
                }
                Tok::Punct(',') => {
                    args.push(&self.tokens[start..i]);
                    start = i + 1;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        if start < close {
            args.push(&self.tokens[start..close]);
        }
        args
    }

    /// Every call of `name` (a function or a closure; not a method, not a definition): the
    /// index of its `(`. With `qualifier`, only `qualifier::name(`.
    fn calls(&self, qualifier: Option<&str>, name: &str) -> Vec<usize> {
        (1..self.tokens.len())
            .filter(|&i| {
                is_punct(self.tokens.get(i), '(')
                    && is_ident(self.tokens.get(i - 1), name)
                    && !(i >= 2 && is_ident(self.tokens.get(i - 2), "fn"))
                    && !(i >= 2 && is_punct(self.tokens.get(i - 2), '.'))
                    && qualifier.is_none_or(|q| {
                        i >= 4
                            && is_punct(self.tokens.get(i - 2), ':')
                            && is_punct(self.tokens.get(i - 3), ':')
                            && is_ident(self.tokens.get(i - 4), q)
                    })
            })
            .collect()
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn operator_sources() -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(&root().join("src"), &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let relative = p
                .strip_prefix(root())
                .expect("under the repository")
                .to_string_lossy()
                .replace('\\', "/");
            SourceFile::parse(relative, &read(p))
        })
        .collect()
}

/// Tokens as compact text, for messages and the tables below: `capitalize(&job_status)`.
fn text(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut last_word = false;
    for t in tokens {
        let (piece, word) = match &t.tok {
            Tok::Ident(s) => (s.clone(), true),
            Tok::Str(s) => (format!("{s:?}"), true),
            Tok::Punct(c) => (c.to_string(), false),
            Tok::Char(c) => (format!("{c:?}"), true),
            Tok::Other => ("…".to_string(), true),
        };
        if last_word && word {
            out.push(' ');
        }
        out.push_str(&piece);
        last_word = word;
    }
    out
}

/// What a condition reason looks like: CamelCase, letters and digits only.
fn is_reason_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_lowercase())
}

fn reason_literals(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Str(s) if is_reason_name(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Where condition reasons come from
// ---------------------------------------------------------------------------------------------

/// Calls that set a condition's reason: (qualifier, function, index of the reason argument).
/// The kstatus conditions are written only from an [`Outcome`], made by its three
/// constructors or by `Verdict::stalled`; domain conditions (`Drifted`) go through
/// `set_condition`.
///
/// [`Outcome`]: mendix_operator::crd::conditions::Outcome
const SINKS: &[(Option<&str>, &str, usize)] = &[
    (Some("Outcome"), "ready", 0),
    (Some("Outcome"), "progressing", 0),
    (Some("Outcome"), "stalled", 0),
    (Some("Verdict"), "stalled", 0),
    (None, "set_condition", 3),
];

/// Functions and closures that pass one of their parameters on as a reason: their callers'
/// arguments are reasons too. (file where it is defined, name, argument, element of a tuple
/// argument). A closure is called only in its own file; a function anywhere.
#[rustfmt::skip]
const FORWARDERS: &[(&str, &str, usize, Option<usize>)] = &[
    ("src/controller/jobs.rs", "earlier_request_pending", 2, None),
    ("src/controller/deletion.rs", "wait_refused", 3, Some(2)),
    ("src/controller/environment/mod.rs", "record_operation", 5, None),
    ("src/controller/environment/private.rs", "manifest_failed", 2, None),
    ("src/controller/package/cleanup.rs", "wait", 0, None),
    ("src/controller/landscape/mod.rs", "refused", 0, None),
];

/// Where a reason that is not a literal or a constant comes from.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// A parameter of a [`FORWARDERS`] entry (the function, or the function that defines the
    /// closure): its callers name the reason.
    Forwarded,
    /// Inside the definition of a sink (an [`Outcome`] constructor, `Verdict::stalled`,
    /// `set_condition`, `apply_outcome`): its callers name the reason.
    ///
    /// [`Outcome`]: mendix_operator::crd::conditions::Outcome
    SinkBody,
    /// The reason of a condition or verdict made elsewhere, set again unchanged.
    Reemitted,
    /// The CamelCase string literals in the body of this function (every one of that name).
    Returns(&'static str),
    /// The CamelCase string literals of the `let` statements of the enclosing function that
    /// bind this variable.
    LetBound,
    /// The CamelCase string literals of this constant's value.
    ConstValue(&'static str),
    /// The CamelCase string literals in the arguments of every call of `qualifier::name`.
    CallArguments(&'static str, &'static str),
    /// The variants of an enum (in `file`), except some: each becomes a reason.
    Variants {
        file: &'static str,
        name: &'static str,
        except: &'static [&'static str],
    },
}

/// Every reason argument that is neither a string literal, nor `if c { "A" } else { "B" }`, nor
/// a `&str` constant: (file, enclosing function, the argument as [`text`] writes it, where its
/// values come from). A new one fails the test until it is added here; an entry that matches
/// nothing fails it too.
#[rustfmt::skip]
const TRACED: &[(&str, &str, &str, &[Origin])] = &[
    // The plumbing: the sinks and forwarders themselves.
    ("src/controller/verdict.rs", "stalled", "reason", &[Origin::SinkBody]),
    ("src/crd/conditions.rs", "apply_outcome", "reason", &[Origin::SinkBody]),
    ("src/crd/conditions.rs", "ready", "reason.into()", &[Origin::SinkBody]),
    ("src/crd/conditions.rs", "progressing", "reason.into()", &[Origin::SinkBody]),
    ("src/crd/conditions.rs", "stalled", "reason.into()", &[Origin::SinkBody]),
    ("src/crd/conditions.rs", "set_condition", "reason.to_string()", &[Origin::SinkBody]),
    ("src/controller/jobs.rs", "earlier_request_pending", "reason", &[Origin::Forwarded]),
    ("src/controller/deletion.rs", "wait_refused", "reason", &[Origin::Forwarded]),
    ("src/controller/environment/mod.rs", "record_operation", "reason", &[Origin::Forwarded]),
    ("src/controller/environment/private.rs", "manifest_failed", "reason", &[Origin::Forwarded]),
    (
        "src/controller/landscape/mod.rs",
        "converge",
        "reason",
        &[Origin::Forwarded],
    ),
    // A held Stalled condition, and a package's stalled credentials said again on delete.
    (
        "src/controller/verdict.rs",
        "hold_stalled",
        "stalled.reason.clone()",
        &[Origin::Reemitted],
    ),
    ("src/controller/package/cleanup.rs", "cleanup", "&reason", &[Origin::Reemitted]),
    // Mendix errors a person must act on.
    (
        "src/controller/verdict.rs",
        "stall_or_retry",
        "reason",
        &[Origin::Returns("stalled_by")],
    ),
    ("src/controller/verdict.rs", "settle", "reason", &[Origin::Returns("stalled_by")]),
    (
        "src/controller/package/cleanup.rs",
        "cleanup",
        "reason",
        &[Origin::Forwarded, Origin::Returns("stalled_by")],
    ),
    // Missing or incomplete Secrets.
    (
        "src/controller/package/apply.rs",
        "remote_for",
        "reason",
        &[Origin::Returns("stalled_reason")],
    ),
    (
        "src/controller/environment/mod.rs",
        "credentials",
        "reason",
        &[Origin::Returns("stalled_reason")],
    ),
    (
        "src/controller/environment/resolve.rs",
        "secret_key",
        "reason",
        &[Origin::Returns("stalled_reason")],
    ),
    (
        "src/controller/landscape/mod.rs",
        "pat_api",
        "reason",
        &[Origin::Returns("stalled_reason")],
    ),
    (
        "src/controller/landscape/namespace.rs",
        "inputs",
        "reason",
        &[Origin::Returns("stalled_reason")],
    ),
    // A Private Cloud job in flight.
    ("src/controller/jobs.rs", "follow_job", "reason", &[Origin::Returns("reason_of")]),
    // Reasons chosen by an `if` or `match` into a variable first.
    ("src/controller/landscape/mod.rs", "send", "reason", &[Origin::LetBound]),
    (
        "src/controller/package/apply.rs",
        "follow_job",
        "reason",
        &[Origin::LetBound],
    ),
    (
        "src/controller/package/apply.rs",
        "start",
        "reason",
        &[Origin::LetBound, Origin::Returns("stalled_by")],
    ),
    // Documented Mendix Cloud start failures.
    (
        "src/controller/environment/cloud/start.rs",
        "start_failed",
        "reason",
        &[Origin::ConstValue("START_FAILURES")],
    ),
    // What Mendix calls a package in progress (Mendix Cloud: Queued, Building, …) …
    (
        "src/controller/package/apply.rs",
        "report",
        "state.clone()",
        &[Origin::CallArguments("RemoteState", "InProgress")],
    ),
    // … and a Private Cloud build or upload job that has not ended (its status, capitalized).
    (
        "src/controller/package/apply.rs",
        "follow_job",
        "capitalize(&job_status)",
        &[Origin::Variants {
            file: "crates/mendix-client/src/private_cloud_v4/types.rs",
            name: "JobStatus",
            except: &["Finished", "Failed"],
        }],
    ),
];

/// The variants of `enum name` in a source file.
fn enum_variants(file: &str, name: &str) -> Vec<String> {
    let source = SourceFile::parse(file.to_string(), &read(&root().join(file)));
    let t = &source.tokens;
    let open = (1..t.len())
        .find(|&i| is_ident(t.get(i - 1), "enum") && is_ident(t.get(i), name))
        .and_then(|i| (i..t.len()).find(|&j| is_punct(t.get(j), '{')))
        .unwrap_or_else(|| panic!("{file} has no enum {name}"));
    let close = closing(t, open);
    let mut variants = Vec::new();
    let mut i = open + 1;
    let mut expect_variant = true;
    while i < close {
        match &t[i].tok {
            Tok::Punct('#') => i = closing(t, i + 1) + 1,
            Tok::Punct('(' | '{') => i = closing(t, i) + 1,
            Tok::Punct(',') => {
                expect_variant = true;
                i += 1;
            }
            Tok::Ident(v) if expect_variant => {
                variants.push(v.clone());
                expect_variant = false;
                i += 1;
            }
            _ => i += 1,
        }
    }
    variants
}

/// A `const NAME: … = value;` anywhere in the operator: the tokens of its value.
fn const_value<'a>(sources: &'a [SourceFile], prefer: &str, name: &str) -> Option<&'a [Token]> {
    let mut found = Vec::new();
    for source in sources {
        let t = &source.tokens;
        for i in 1..t.len() {
            if is_ident(t.get(i - 1), "const") && is_ident(t.get(i), name) {
                let Some(eq) = (i..t.len()).find(|&j| is_punct(t.get(j), '=')) else {
                    continue;
                };
                let mut end = eq + 1;
                while end < t.len() && !is_punct(t.get(end), ';') {
                    end = match t[end].tok {
                        Tok::Punct('(' | '[' | '{') => closing(t, end) + 1,
                        _ => end + 1,
                    };
                }
                found.push((source.path.as_str(), &t[eq + 1..end]));
            }
        }
    }
    found
        .iter()
        .find(|(path, _)| *path == prefer)
        .or_else(|| (found.len() == 1).then(|| &found[0]))
        .map(|(_, value)| *value)
}

/// Every condition reason the operator can set, with where (file:line), found by reading
/// `src/` with these rules:
///
/// 1. the reason argument of every call in [`SINKS`] and [`FORWARDERS`], and every `reason`
///    field of a `Condition` or `Outcome` struct literal or `.reason =` assignment
///    ([`reason_fields`]); code under `#[cfg(test)]` excluded;
/// 2. a string literal there is a reason, and so is each literal of `if c { "A" } else { "B" }`;
/// 3. a `SCREAMING_CASE` path is a `&str` constant, whose value is the reason;
/// 4. anything else must be listed in [`TRACED`], which says where its values come from.
///
/// Every literal found must look like a reason (CamelCase). Rules 1–4 fail loudly on what
/// they do not understand, so a new way to set a reason cannot go unnoticed.
fn condition_reasons() -> BTreeMap<String, BTreeSet<String>> {
    let (reasons, problems) = collect_reasons(&operator_sources());
    assert!(
        problems.is_empty(),
        "cannot collect the condition reasons:\n  {}",
        problems.join("\n  ")
    );
    reasons
}

/// [`condition_reasons`] of these sources: the reasons, and what the rules do not understand.
fn collect_reasons(sources: &[SourceFile]) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let mut reasons: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut traced_used = vec![false; TRACED.len()];

    // Every call whose argument is a reason: (file, its `(`, argument, tuple element).
    let mut calls = Vec::new();
    for (f, source) in sources.iter().enumerate() {
        for &(qualifier, name, arg) in SINKS {
            for open in source.calls(qualifier, name) {
                calls.push((f, open, arg, None));
            }
        }
    }
    for &(defined_in, name, arg, element) in FORWARDERS {
        let Some(home) = sources.iter().find(|s| s.path == defined_in) else {
            problems.push(format!("FORWARDERS: {defined_in} does not exist"));
            continue;
        };
        let function = home.functions.iter().any(|(n, _, _)| n == name);
        let closure = (1..home.tokens.len()).any(|i| {
            is_ident(home.tokens.get(i - 1), "let")
                && is_ident(home.tokens.get(i), name)
                && is_punct(home.tokens.get(i + 1), '=')
                && is_punct(home.tokens.get(i + 2), '|')
        });
        if !function && !closure {
            problems.push(format!(
                "FORWARDERS: {defined_in} defines no fn or closure {name} any more: update the table"
            ));
            continue;
        }
        let before = calls.len();
        for (f, source) in sources.iter().enumerate() {
            if closure && !function && source.path != defined_in {
                continue;
            }
            for open in source.calls(None, name) {
                calls.push((f, open, arg, element));
            }
        }
        if calls.len() == before {
            problems.push(format!(
                "FORWARDERS: nothing calls {name} ({defined_in}) any more: update the table"
            ));
        }
    }

    // Each place a reason is set: (file, token, the reason expression).
    let mut sites: Vec<(usize, usize, Vec<Token>)> = Vec::new();
    for (f, open, arg, element) in calls {
        let source = &sources[f];
        let at = format!("{}:{}", source.path, source.tokens[open].line);
        let args = source.arguments(open);
        let Some(argument) = args.get(arg) else {
            problems.push(format!("{at}: a reason call with too few arguments"));
            continue;
        };
        let expr: Vec<Token> = match element {
            None => argument.to_vec(),
            // A tuple argument `(a, b, reason)`.
            Some(element) => {
                let tuple = SourceFile {
                    path: String::new(),
                    tokens: argument.to_vec(),
                    functions: Vec::new(),
                };
                let whole =
                    is_punct(argument.first(), '(') && closing(argument, 0) == argument.len() - 1;
                match whole.then(|| tuple.arguments(0).get(element).map(|e| e.to_vec())) {
                    Some(Some(inner)) => inner,
                    _ => {
                        problems.push(format!(
                            "{at}: expected a tuple with the reason as element {element}, found `{}`",
                            text(argument)
                        ));
                        continue;
                    }
                }
            }
        };
        sites.push((f, open, expr));
    }
    // Reasons written without a call: a `reason` field of a `Condition` or `Outcome` struct
    // literal, or an assignment to a `.reason`.
    for (f, source) in sources.iter().enumerate() {
        for (at, expr) in reason_fields(&source.tokens) {
            sites.push((f, at, expr));
        }
    }

    for (f, anchor, expr) in sites {
        let source = &sources[f];
        let at = format!("{}:{}", source.path, source.tokens[anchor].line);
        let mut add = |values: Vec<String>, problems: &mut Vec<String>| {
            for v in values {
                if is_reason_name(&v) {
                    reasons.entry(v).or_default().insert(at.clone());
                } else {
                    problems.push(format!("{at}: reason {v:?} is not CamelCase"));
                }
            }
        };
        match reason_of_tokens(&expr) {
            Found::Literals(values) => add(values, &mut problems),
            Found::Constant(name) => match const_value(sources, &source.path, &name) {
                Some(value) => match reason_of_tokens(value) {
                    Found::Literals(values) => add(values, &mut problems),
                    _ => problems.push(format!("{at}: constant {name} is not a string literal")),
                },
                None => problems.push(format!("{at}: constant {name} not found (or ambiguous)")),
            },
            Found::Expression => {
                let function = source
                    .enclosing(anchor)
                    .map(|(n, _, _)| n.as_str())
                    .unwrap_or("");
                let written = text(&expr);
                let Some(index) = TRACED.iter().position(|(file, func, e, _)| {
                    *file == source.path && *func == function && *e == written
                }) else {
                    problems.push(format!(
                        "{at}: reason `{written}` in fn {function} is neither a literal nor a constant: \
                         say where its values come from in TRACED (tests/docs.rs)"
                    ));
                    continue;
                };
                traced_used[index] = true;
                for origin in TRACED[index].3 {
                    match origin_values(sources, source, anchor, &written, *origin) {
                        Ok(values) => add(values, &mut problems),
                        Err(problem) => problems.push(format!("{at}: {problem}")),
                    }
                }
            }
        }
    }
    for (used, (file, function, expr, _)) in traced_used.iter().zip(TRACED) {
        if !used {
            problems.push(format!(
                "TRACED lists `{expr}` in fn {function} of {file}, which sets no reason any more: remove it"
            ));
        }
    }
    (reasons, problems)
}

/// Where `tokens` set a reason without a call: `reason: EXPR` in a `Condition { … }` or an
/// `Outcome::Ready { … }` (also `Self::Ready { … }`, and the other two variants) struct
/// literal, and `….reason = EXPR;`. Returns (the `reason` token, EXPR).
fn reason_fields(tokens: &[Token]) -> Vec<(usize, Vec<Token>)> {
    let mut out = Vec::new();
    // Up to the next `,` / `;` / closing bracket at this depth.
    let expression = |from: usize, stop: char| {
        let mut end = from;
        while end < tokens.len() {
            match tokens[end].tok {
                Tok::Punct('(' | '[' | '{') => end = closing(tokens, end) + 1,
                Tok::Punct(c) if c == stop || c == ';' || matches!(c, ')' | ']' | '}') => break,
                _ => end += 1,
            }
        }
        tokens[from..end].to_vec()
    };
    for i in 1..tokens.len() {
        if !is_ident(tokens.get(i), "reason") {
            continue;
        }
        let assigned = is_punct(tokens.get(i - 1), '.')
            && is_punct(tokens.get(i + 1), '=')
            && !is_punct(tokens.get(i + 2), '=');
        if assigned {
            out.push((i, expression(i + 2, ';')));
            continue;
        }
        let field = is_punct(tokens.get(i + 1), ':')
            && !is_punct(tokens.get(i + 2), ':')
            && (is_punct(tokens.get(i - 1), '{') || is_punct(tokens.get(i - 1), ','));
        if !field {
            continue;
        }
        // The brace this field is in, and what stands before it.
        let mut depth = 0;
        let mut brace = None;
        for j in (0..i).rev() {
            match tokens[j].tok {
                Tok::Punct(')' | ']' | '}') => depth += 1,
                Tok::Punct('(' | '[') if depth > 0 => depth -= 1,
                Tok::Punct('{') if depth > 0 => depth -= 1,
                Tok::Punct('(' | '[') => break,
                Tok::Punct('{') => {
                    brace = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(brace) = brace.filter(|&b| b >= 1) else {
            continue;
        };
        let condition = is_ident(tokens.get(brace - 1), "Condition")
            && !(brace >= 2 && is_ident(tokens.get(brace - 2), "struct"));
        let outcome = brace >= 4
            && ["Ready", "Progressing", "Stalled"]
                .iter()
                .any(|v| is_ident(tokens.get(brace - 1), v))
            && is_punct(tokens.get(brace - 2), ':')
            && is_punct(tokens.get(brace - 3), ':')
            && (is_ident(tokens.get(brace - 4), "Outcome")
                || is_ident(tokens.get(brace - 4), "Self"));
        if condition || outcome {
            out.push((i, expression(i + 2, ',')));
        }
    }
    out
}

enum Found {
    Literals(Vec<String>),
    Constant(String),
    Expression,
}

/// What a reason argument is: literals (`"A"`, `if c { "A" } else { "B" }`), a constant, or
/// an expression to trace.
fn reason_of_tokens(expr: &[Token]) -> Found {
    // `"A"`, and `"A".into()`, `"A".to_string()`, `"A".to_owned()`.
    if let Some(Tok::Str(s)) = expr.first().map(|t| &t.tok) {
        let conversion = expr.len() == 5
            && is_punct(expr.get(1), '.')
            && ["into", "to_string", "to_owned"]
                .iter()
                .any(|m| is_ident(expr.get(2), m))
            && is_punct(expr.get(3), '(')
            && is_punct(expr.get(4), ')');
        if expr.len() == 1 || conversion {
            return Found::Literals(vec![s.clone()]);
        }
    }
    if is_ident(expr.first(), "if") {
        // Every block is `{ "literal" }`.
        let mut literals = Vec::new();
        let mut i = 0;
        while i < expr.len() {
            if is_punct(expr.get(i), '{') {
                match (expr.get(i + 1).map(|t| &t.tok), expr.get(i + 2)) {
                    (Some(Tok::Str(s)), close) if is_punct(close, '}') => {
                        literals.push(s.clone());
                        i += 3;
                        continue;
                    }
                    _ => return Found::Expression,
                }
            }
            i += 1;
        }
        if !literals.is_empty() {
            return Found::Literals(literals);
        }
        return Found::Expression;
    }
    let path = expr
        .iter()
        .all(|t| matches!(&t.tok, Tok::Ident(_) | Tok::Punct(':')));
    if path
        && let Some(Tok::Ident(last)) = expr.last().map(|t| &t.tok)
        && last.len() > 1
        && last
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Found::Constant(last.clone());
    }
    Found::Expression
}

/// The reasons one [`Origin`] stands for.
fn origin_values(
    sources: &[SourceFile],
    source: &SourceFile,
    at: usize,
    written: &str,
    origin: Origin,
) -> Result<Vec<String>, String> {
    let non_empty = |values: Vec<String>, what: String| {
        if values.is_empty() {
            Err(format!("{what} gives no reason any more: update TRACED"))
        } else {
            Ok(values)
        }
    };
    match origin {
        Origin::Forwarded => {
            let (function, open, close) = source
                .enclosing(at)
                .ok_or_else(|| format!("`{written}` is outside any function"))?;
            let forwards = FORWARDERS.iter().any(|&(file, name, _, _)| {
                file == source.path
                    && (name == function
                        || (*open..*close).any(|i| {
                            is_ident(source.tokens.get(i), "let")
                                && is_ident(source.tokens.get(i + 1), name)
                        }))
            });
            if forwards {
                Ok(Vec::new())
            } else {
                Err(format!(
                    "TRACED says `{written}` in fn {function} is forwarded, but FORWARDERS has no \
                     fn {function} (or closure in it) in {}",
                    source.path
                ))
            }
        }
        Origin::SinkBody => {
            let function = source.enclosing(at).map_or("", |(n, _, _)| n.as_str());
            let sink_files = ["src/crd/conditions.rs", "src/controller/verdict.rs"];
            let sink_functions = [
                "ready",
                "progressing",
                "stalled",
                "set_condition",
                "apply_outcome",
            ];
            if sink_files.contains(&source.path.as_str()) && sink_functions.contains(&function) {
                Ok(Vec::new())
            } else {
                Err(format!(
                    "fn {function} of {} is not the definition of a sink",
                    source.path
                ))
            }
        }
        Origin::Reemitted => Ok(Vec::new()),
        Origin::Returns(function) => {
            let mut values = Vec::new();
            let mut found = false;
            for s in sources {
                for (name, open, close) in &s.functions {
                    if name == function {
                        found = true;
                        values.extend(reason_literals(&s.tokens[*open..*close]));
                    }
                }
            }
            if !found {
                return Err(format!("fn {function} (TRACED) no longer exists"));
            }
            non_empty(values, format!("fn {function}"))
        }
        Origin::LetBound => {
            let (_, open, close) = source
                .enclosing(at)
                .ok_or_else(|| format!("`{written}` is outside any function"))?;
            let t = &source.tokens;
            let mut values = Vec::new();
            for i in *open..*close {
                if !is_ident(t.get(i), "let") {
                    continue;
                }
                let eq = (i..*close)
                    .find(|&j| is_punct(t.get(j), '='))
                    .unwrap_or(*close);
                if !t[i..eq]
                    .iter()
                    .any(|x| x.tok == Tok::Ident(written.to_string()))
                {
                    continue;
                }
                let mut end = eq + 1;
                while end < *close && !is_punct(t.get(end), ';') {
                    end = match t[end].tok {
                        Tok::Punct('(' | '[' | '{') => closing(t, end) + 1,
                        _ => end + 1,
                    };
                }
                values.extend(reason_literals(&t[eq + 1..end.min(*close)]));
            }
            non_empty(values, format!("the `let` of `{written}`"))
        }
        Origin::ConstValue(name) => {
            let value = const_value(sources, &source.path, name)
                .ok_or_else(|| format!("constant {name} (TRACED) not found"))?;
            non_empty(reason_literals(value), format!("constant {name}"))
        }
        Origin::CallArguments(qualifier, name) => {
            let mut values = Vec::new();
            for s in sources {
                for open in s.calls(Some(qualifier), name) {
                    for arg in s.arguments(open) {
                        values.extend(reason_literals(arg));
                    }
                }
            }
            non_empty(values, format!("calls of {qualifier}::{name}"))
        }
        Origin::Variants { file, name, except } => {
            let values: Vec<String> = enum_variants(file, name)
                .into_iter()
                .filter(|v| !except.contains(&v.as_str()))
                .collect();
            non_empty(values, format!("enum {name} of {file}"))
        }
    }
}

/// The rules on a file added to the real sources: what they collect, what they ignore, and
/// what they refuse to guess.
#[test]
fn the_reason_collector_follows_its_rules() {
    let synthetic = r##"
        const FANCY: &str = "FromConstant";
        fn decide(running: bool, reason: &str) -> Verdict {
            // Outcome::stalled("InComment", "a comment sets nothing")
            let _text = "Outcome::ready(\"InString\", \"\")";
            let _raw = r#"Verdict::stalled("InRawString", "")"#;
            let _lifetime: &'static str = "x";
            let _char = '"';
            Outcome::progressing("FromLiteral", format!("{}", 1));
            Outcome::ready(if running { "FromIfA" } else { "FromIfB" }, "m");
            Verdict::stalled(FANCY, "m");
            Verdict::stalled(crate::some::FANCY, "m");
            set_condition(&mut c, "Drifted", TRUE, "FromSetCondition", "m", None, now());
            wait_refused(obj, ctx, op, (&what, &why, "FromTuple"));
            Verdict::stalled("not a reason", "m");
            let _matched = matches!(o, Outcome::Stalled { reason, .. } if reason == "x");
            let _literal = Outcome::Stalled { reason: "FromStructLiteral".into(), message: m };
            let _condition = Condition { type_: t, reason: "FromCondition".to_string(), message: m };
            c.reason = "FromAssignment".to_owned();
            Verdict::stalled(reason, "m")
        }
        #[cfg(test)]
        mod tests {
            fn t() { Outcome::ready("InTestModule", "m"); }
        }
    "##;
    let mut sources = operator_sources();
    let (before, problems) = collect_reasons(&sources);
    assert!(problems.is_empty(), "{problems:?}");
    sources.push(SourceFile::parse("src/synthetic.rs".into(), synthetic));
    let (after, problems) = collect_reasons(&sources);
    let added: BTreeSet<&str> = after
        .keys()
        .filter(|r| {
            !before.contains_key(*r)
                || after[*r]
                    .iter()
                    .any(|at| at.starts_with("src/synthetic.rs"))
        })
        .map(String::as_str)
        .collect();
    assert_eq!(
        added,
        BTreeSet::from([
            "FromAssignment",
            "FromCondition",
            "FromConstant",
            "FromIfA",
            "FromIfB",
            "FromLiteral",
            "FromSetCondition",
            "FromStructLiteral",
            "FromTuple",
        ])
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("\"not a reason\" is not CamelCase"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("reason `reason` in fn decide is neither a literal nor a constant"),
        "{problems:#?}"
    );
    assert!(problems.iter().all(|p| p.starts_with("src/synthetic.rs:")));
}

// ---------------------------------------------------------------------------------------------
// docs/troubleshooting.md
// ---------------------------------------------------------------------------------------------

/// The reasons docs/troubleshooting.md documents: each `###` heading names one or more, in
/// backticks (`` ### `SecretNotFound` ``), and says nothing else.
fn documented_reasons() -> BTreeMap<String, usize> {
    let doc = read(&root().join("docs/troubleshooting.md"));
    let names = Regex::new(r"`([^`]+)`").expect("regex");
    let mut documented = BTreeMap::new();
    let mut problems = Vec::new();
    let mut in_fence = false;
    for (n, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        let rest = names.replace_all(heading, "");
        if !rest
            .chars()
            .all(|c| c == ',' || c == '/' || c.is_whitespace())
        {
            problems.push(format!(
                "docs/troubleshooting.md:{}: a ### heading names reasons only, each in backticks: {heading:?}",
                n + 1
            ));
        }
        for name in names.captures_iter(heading) {
            let name = name[1].to_string();
            if !is_reason_name(&name) {
                problems.push(format!(
                    "docs/troubleshooting.md:{}: `{name}` is not a reason",
                    n + 1
                ));
            }
            if documented.insert(name.clone(), n + 1).is_some() {
                problems.push(format!(
                    "docs/troubleshooting.md:{}: `{name}` is documented twice",
                    n + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    documented
}

#[test]
fn troubleshooting_documents_every_condition_reason_and_no_other() {
    let reasons = condition_reasons();
    let documented = documented_reasons();
    let missing: Vec<String> = reasons
        .iter()
        .filter(|(r, _)| !documented.contains_key(*r))
        .map(|(r, at)| {
            format!(
                "`{r}` (set at {})",
                at.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let stale: Vec<String> = documented
        .iter()
        .filter(|(r, _)| !reasons.contains_key(*r))
        .map(|(r, line)| format!("`{r}` (docs/troubleshooting.md:{line})"))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/troubleshooting.md and the code disagree.\n\
         Reasons the operator can set that have no `### \\`Reason\\`` section:\n  {}\n\
         Sections for reasons the operator no longer sets:\n  {}",
        missing.join("\n  "),
        stale.join("\n  ")
    );
}

/// The collector finds what it must: reasons of every kind of origin. Guards the rules above
/// against a change that makes them find nothing (and so pass vacuously).
#[test]
fn the_reason_collector_sees_every_kind_of_origin() {
    let reasons = condition_reasons();
    for expected in [
        "Succeeded",        // a literal (package Ready)
        "AwaitingApproval", // a constant
        "Running",          // `if running { "Running" } else { "Stopped" }`
        "SecretNotFound",   // CredentialsError::stalled_reason
        "AccessDenied",     // verdict::stalled_by
        "PackageInUse",     // a tuple argument of deletion::wait_refused
        "UpdatingManifest", // record_operation, jobs::reason_of
        "MissingConstant",  // START_FAILURES
        "Queued",           // RemoteState::InProgress
        "Created",          // a Private Cloud job status, capitalized
        "InSync",           // set_condition of condition Drifted
    ] {
        assert!(
            reasons.contains_key(expected),
            "the collector no longer finds {expected}: {:?}",
            reasons.keys().collect::<Vec<_>>()
        );
    }
    assert!(reasons.len() >= 50, "only {} reasons found", reasons.len());
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// A Markdown file's lines, each with whether it is inside a fenced code block (fence lines
/// count as inside).
fn fenced(doc: &str) -> Vec<(usize, &str, bool)> {
    let mut inside = false;
    doc.lines()
        .enumerate()
        .map(|(n, line)| {
            let fence = line.trim_start().starts_with("```");
            let this = inside || fence;
            if fence {
                inside = !inside;
            }
            (n + 1, line, this)
        })
        .collect()
}

/// The fenced code blocks with this info string (e.g. `yaml`): (first line, text).
fn code_blocks(doc: &str, languages: &[&str]) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None if languages.contains(&info.trim()) => current = Some((n + 2, String::new())),
                None => current = Some((0, String::new())),
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    blocks.into_iter().filter(|(line, _)| *line > 0).collect()
}

/// Text outside code: fenced blocks dropped, inline code spans blanked.
fn prose_lines(doc: &str) -> Vec<(usize, String)> {
    let span = Regex::new(r"`[^`]*`").expect("regex");
    fenced(doc)
        .into_iter()
        .filter(|(_, _, code)| !code)
        .map(|(n, line, _)| (n, span.replace_all(line, "``").into_owned()))
        .collect()
}

/// Code the reader is told to run or type: every line of a fenced block and every inline code
/// span, with its line number.
fn code_snippets(doc: &str) -> Vec<(usize, String)> {
    let span = Regex::new(r"`([^`]+)`").expect("regex");
    let mut out = Vec::new();
    for (n, line, code) in fenced(doc) {
        if code {
            if !line.trim_start().starts_with("```") {
                out.push((n, line.to_string()));
            }
        } else {
            out.extend(span.captures_iter(line).map(|c| (n, c[1].to_string())));
        }
    }
    out
}

/// The anchors GitHub gives a file's headings: lowercase, punctuation dropped, spaces as `-`,
/// `-1`, `-2` … for repeats.
fn anchors(doc: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line, code) in fenced(doc) {
        if code {
            continue;
        }
        let Some(heading) = line
            .strip_prefix('#')
            .map(|h| h.trim_start_matches('#'))
            .filter(|h| h.starts_with(' '))
        else {
            continue;
        };
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    out
}

#[test]
fn relative_links_in_docs_resolve() {
    let link = Regex::new(r#"\]\(([^)\s]+)(?:\s+"[^"]*")?\)"#).expect("regex");
    let reference = Regex::new(r"^\s*\[[^\]]+\]:\s*(\S+)").expect("regex");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (name, doc) in docs() {
        let dir = root().join(&name).parent().expect("docs/").to_path_buf();
        for (n, line) in prose_lines(&doc) {
            let targets = link
                .captures_iter(&line)
                .chain(reference.captures_iter(&line))
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>();
            for target in targets {
                if ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|p| target.starts_with(p))
                {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    root().join(&name)
                } else {
                    dir.join(path)
                };
                let Ok(file) = file.canonicalize() else {
                    broken.push(format!("{name}:{n}: {target}: no such file"));
                    continue;
                };
                if !file.starts_with(root().canonicalize().expect("root")) {
                    broken.push(format!("{name}:{n}: {target}: outside the repository"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let is_markdown = file.extension().is_some_and(|e| e == "md");
                    if !is_markdown {
                        broken.push(format!(
                            "{name}:{n}: {target}: an anchor into a non-Markdown file"
                        ));
                    } else if !anchors(&read(&file)).contains(anchor) {
                        broken.push(format!(
                            "{name}:{n}: {target}: no heading with anchor #{anchor}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
    assert!(checked > 10, "only {checked} relative links checked");
}

/// A code span that runs over a line break would hide its command from the checks here.
#[test]
fn code_spans_in_docs_stay_on_one_line() {
    let mut broken = Vec::new();
    for (name, doc) in docs() {
        for (n, line, code) in fenced(&doc) {
            if !code && line.matches('`').count() % 2 == 1 {
                broken.push(format!("{name}:{n}: {line}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "lines with an unclosed `code span`:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_docs_index_links_every_page() {
    let index = read(&root().join("docs/README.md"));
    let missing: Vec<String> = docs()
        .into_iter()
        .map(|(name, _)| name.trim_start_matches("docs/").to_string())
        .filter(|page| page != "README.md" && !index.contains(&format!("({page})")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/README.md does not link {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// YAML blocks
// ---------------------------------------------------------------------------------------------

/// Fields of `value` that `schema` does not declare (and that the API server would drop
/// without a word), as paths.
fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(fields) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            let open = schema
                .get("additionalProperties")
                .is_some_and(|a| a != &Value::Bool(false));
            for (key, field) in fields {
                match properties.get(key) {
                    Some(sub) => unknown_fields(field, sub, &format!("{path}.{key}"), out),
                    None if !open => out.push(format!("{path}.{key}")),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(v, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Whether a Mendix resource is what the CRD accepts: the typed API, the schema (types,
/// enums, patterns, bounds; CEL rules need the API server), no unknown field.
fn resource_problems(value: &Value) -> Vec<String> {
    use mendix_operator::crd::{MendixCluster, MendixEnvironment, MendixNamespace, MendixPackage};
    let kind = value["kind"].as_str().unwrap_or_default();
    let typed = match kind {
        "MendixPackage" => serde_json::from_value::<MendixPackage>(value.clone()).map(drop),
        "MendixEnvironment" => serde_json::from_value::<MendixEnvironment>(value.clone()).map(drop),
        "MendixCluster" => serde_json::from_value::<MendixCluster>(value.clone()).map(drop),
        "MendixNamespace" => serde_json::from_value::<MendixNamespace>(value.clone()).map(drop),
        other => return vec![format!("unknown kind {other:?} of mendixops.io")],
    };
    let mut problems = Vec::new();
    if let Err(e) = typed {
        problems.push(format!("not a valid {kind}: {e}"));
    }
    let crd = mendix_operator::crd::definitions()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .expect("a CRD of every kind");
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("schema serializes");
    let validator = jsonschema::validator_for(&schema).expect("the CRD schema compiles");
    problems.extend(
        validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path())),
    );
    let mut unknown = Vec::new();
    unknown_fields(
        &value["spec"],
        &schema["properties"]["spec"],
        "spec",
        &mut unknown,
    );
    problems.extend(unknown.into_iter().map(|f| format!("{f}: no such field")));
    problems
}

#[test]
fn yaml_blocks_in_docs_parse_and_mendix_resources_in_them_are_valid() {
    let mut problems = Vec::new();
    let mut resources = 0;
    for (name, doc) in docs() {
        for (line, block) in code_blocks(&doc, &["yaml", "yml"]) {
            for document in serde_yaml::Deserializer::from_str(&block) {
                let value = match serde_yaml::Value::deserialize(document) {
                    Ok(v) => v,
                    Err(e) => {
                        problems.push(format!("{name}:{line}: not YAML: {e}"));
                        break;
                    }
                };
                let Ok(value) = serde_json::to_value(&value) else {
                    problems.push(format!("{name}:{line}: not JSON-shaped YAML"));
                    continue;
                };
                let api_version = value["apiVersion"].as_str().unwrap_or_default();
                if api_version.starts_with("mendixops.io/") {
                    resources += 1;
                    if api_version != "mendixops.io/v1alpha1" {
                        problems.push(format!("{name}:{line}: apiVersion {api_version}"));
                    }
                    let what = value["metadata"]["name"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string();
                    problems.extend(
                        resource_problems(&value)
                            .into_iter()
                            .map(|p| format!("{name}:{line}: {what}: {p}")),
                    );
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(resources >= 4, "only {resources} Mendix resources in docs/");
}

// ---------------------------------------------------------------------------------------------
// kubectl mendix
// ---------------------------------------------------------------------------------------------

fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c == '_' {
            out.push('-');
        } else if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The flags a clap-derived struct or struct variant declares in `fields` (the tokens inside
/// its braces): `--long` and `-s`, and those of `#[command(flatten)]` structs.
fn clap_flags(tokens: &[Token], structs: &BTreeMap<String, Vec<Token>>) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut attributes: Vec<&[Token]> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if is_punct(tokens.get(i), '#') && is_punct(tokens.get(i + 1), '[') {
            let close = closing(tokens, i + 1);
            attributes.push(&tokens[i + 2..close]);
            i = close + 1;
            continue;
        }
        let (Some(Tok::Ident(field)), true) = (
            tokens.get(i).map(|t| &t.tok),
            is_punct(tokens.get(i + 1), ':') && !is_punct(tokens.get(i + 2), ':'),
        ) else {
            i += 1;
            continue;
        };
        let field = if field == "pub" {
            i += 1;
            continue;
        } else {
            field.clone()
        };
        // The field's type runs to the next top-level comma.
        let mut j = i + 2;
        while j < tokens.len() && !is_punct(tokens.get(j), ',') {
            j = match tokens[j].tok {
                Tok::Punct('(' | '[' | '{') => closing(tokens, j) + 1,
                _ => j + 1,
            };
        }
        let type_name = tokens[i + 2..j]
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Ident(n) => Some(n.clone()),
                _ => None,
            })
            .next_back()
            .unwrap_or_default();
        for attribute in attributes.drain(..) {
            let flatten = is_ident(attribute.first(), "command")
                && attribute
                    .iter()
                    .any(|t| t.tok == Tok::Ident("flatten".into()));
            if flatten {
                if let Some(inner) = structs.get(&type_name) {
                    flags.extend(clap_flags(inner, structs));
                }
                continue;
            }
            if !is_ident(attribute.first(), "arg") {
                continue;
            }
            for (k, t) in attribute.iter().enumerate() {
                let explicit = is_punct(attribute.get(k + 1), '=');
                if t.tok == Tok::Ident("long".into()) {
                    match (explicit, attribute.get(k + 2).map(|t| &t.tok)) {
                        (true, Some(Tok::Str(name))) => flags.insert(format!("--{name}")),
                        _ => flags.insert(format!("--{}", kebab(&field))),
                    };
                }
                if t.tok == Tok::Ident("short".into()) {
                    match (explicit, attribute.get(k + 2).map(|t| &t.tok)) {
                        (true, Some(Tok::Char(c))) => flags.insert(format!("-{c}")),
                        _ => flags.insert(format!("-{}", &field[..1])),
                    };
                }
            }
        }
        i = j;
    }
    flags
}

/// The plugin's verbs with their flags, and its global flags.
fn plugin_commands() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let path = "crates/kubectl-mendix/src/lib.rs";
    let source = SourceFile::parse(path.into(), &read(&root().join(path)));
    let t = &source.tokens;
    let mut structs = BTreeMap::new();
    let mut verb_body = None;
    for i in 1..t.len() {
        let (Some(Tok::Ident(name)), true) =
            (t.get(i).map(|x| &x.tok), is_punct(t.get(i + 1), '{'))
        else {
            continue;
        };
        if is_ident(t.get(i - 1), "struct") {
            structs.insert(name.clone(), t[i + 2..closing(t, i + 1)].to_vec());
        }
        if is_ident(t.get(i - 1), "enum") && name == "Verb" {
            verb_body = Some((i + 1, closing(t, i + 1)));
        }
    }
    let (open, close) = verb_body.expect("enum Verb in the plugin");
    let mut verbs = BTreeMap::new();
    let mut i = open + 1;
    while i < close {
        match &t[i].tok {
            Tok::Punct('#') => i = closing(t, i + 1) + 1,
            Tok::Ident(variant) => {
                let flags = if is_punct(t.get(i + 1), '{') {
                    let end = closing(t, i + 1);
                    let flags = clap_flags(&t[i + 2..end], &structs);
                    i = end + 1;
                    flags
                } else {
                    i += 1;
                    BTreeSet::new()
                };
                verbs.insert(kebab(variant), flags);
            }
            _ => i += 1,
        }
    }
    let mut global = clap_flags(structs.get("Cli").expect("struct Cli"), &structs);
    global.extend(["--help", "-h"].map(String::from));
    (verbs, global)
}

#[test]
fn kubectl_mendix_verbs_and_flags_in_docs_exist() {
    let (verbs, global) = plugin_commands();
    assert!(
        verbs.contains_key("get") && verbs.contains_key("create-free-app"),
        "{verbs:?}"
    );
    assert!(verbs["rollback"].contains("--to") && verbs["diff"].contains("-f"));
    assert!(global.contains("-n") && global.contains("--kubeconfig"));
    let invocation = Regex::new(r"kubectl mendix((?:[ \t]+[^ \t|;&#`]+)*)").expect("regex");
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, doc) in docs() {
        for (line, snippet) in code_snippets(&doc) {
            for found in invocation.captures_iter(&snippet) {
                let words: Vec<String> = found[1]
                    .split_whitespace()
                    .map(|w| {
                        w.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'))
                            .to_string()
                    })
                    .filter(|w| !w.is_empty())
                    .collect();
                let mut verb: Option<&str> = None;
                let mut skip_value = false;
                for word in &words {
                    if skip_value {
                        skip_value = false;
                        continue;
                    }
                    let flag = word.split('=').next().unwrap_or_default();
                    match verb {
                        None if flag.starts_with('-') => {
                            if !global.contains(flag) {
                                problems.push(format!(
                                    "{name}:{line}: `kubectl mendix {word}`: no such global flag"
                                ));
                            }
                            skip_value = !word.contains('=') && !matches!(flag, "-h" | "--help");
                        }
                        None => {
                            if !verbs.contains_key(flag) {
                                problems.push(format!(
                                    "{name}:{line}: `kubectl mendix {word}`: no such verb"
                                ));
                            }
                            seen.insert(flag.to_string());
                            verb = Some(flag);
                        }
                        Some(v) if flag.starts_with('-') && flag != "-" => {
                            let known = verbs.get(v).is_some_and(|f| f.contains(flag))
                                || global.contains(flag);
                            if !known {
                                problems.push(format!("{name}:{line}: `kubectl mendix {v} … {word}`: {v} has no flag {flag}"));
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(seen.len() >= 5, "the docs show only these verbs: {seen:?}");
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// The metric families the operator registers, with their prefix: `mendix_operator_reconciles`.
fn registered_metrics() -> BTreeSet<String> {
    let path = "src/metrics.rs";
    let source = SourceFile::parse(path.into(), &read(&root().join(path)));
    let t = &source.tokens;
    let string_after = |name: &str| -> Vec<String> {
        (2..t.len())
            .filter(|&i| is_ident(t.get(i - 1), name) && is_punct(t.get(i), '('))
            .filter_map(|i| match t.get(i + 1).map(|x| &x.tok) {
                Some(Tok::Str(s)) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let prefix = string_after("with_prefix");
    assert_eq!(prefix, ["mendix_operator"], "one registry prefix");
    let families: BTreeSet<String> = string_after("register")
        .into_iter()
        .map(|name| format!("{}_{name}", prefix[0]))
        .collect();
    assert!(families.len() >= 8, "{families:?}");
    families
}

#[test]
fn monitoring_names_every_metric_family_and_no_other() {
    let registered = registered_metrics();
    let doc = read(&root().join("docs/monitoring.md"));
    let name = Regex::new(r"mendix_operator_[a-z0-9_]+").expect("regex");
    let mut documented = BTreeSet::new();
    let mut unknown = Vec::new();
    for found in name.find_iter(&doc) {
        let full = found.as_str();
        // Counters are exposed with `_total`, histograms with `_bucket`, `_sum` and `_count`.
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|suffix| {
                full.strip_suffix(suffix)
                    .filter(|f| !registered.contains(full) && registered.contains(*f))
            })
            .unwrap_or(full);
        if registered.contains(family) {
            documented.insert(family.to_string());
        } else {
            unknown.push(full.to_string());
        }
    }
    let undocumented: Vec<&String> = registered.difference(&documented).collect();
    assert!(
        unknown.is_empty() && undocumented.is_empty(),
        "docs/monitoring.md names metrics the operator does not register: {unknown:?}; \
         and does not name these it registers: {undocumented:?}"
    );
}
