//! Configuration errors as the operator reads them: `file:line:col: key = value: what is
//! wrong; example: right value`. Owns `ConfigError`, `Diagnostic`, the translation of serde/TOML
//! messages into that shape, and the "did you mean" suggestion. Never prints a TCP-MD5 or BFD key.

use std::fmt;
use std::path::{Path, PathBuf};

use super::raw;
use super::spans::{self, SpanIndex};

/// What kind of problem a diagnostic reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// Not TOML, or not UTF-8.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong TOML type (string for integer, ...).
    WrongType,
    /// A value of the right type that is out of range or malformed.
    InvalidValue,
    /// Keys that cannot be used together, or a key foreign to the selected type.
    Conflict,
    /// The same neighbour, check or prefix twice.
    Duplicate,
    /// A key file that is missing, unreadable or too open.
    KeyFile,
    /// Valid, but this host cannot do it (TCP-AO on a kernel without it): `check-config`
    /// fails; the daemon runs with that neighbor disabled, and says why.
    Unsupported,
    /// Not an error: the configuration loads but probably does not do what was meant.
    Warning,
}

/// One located problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The key path (`bgp.neighbor[1].remote_as`, indices from 0); empty for syntax errors.
    pub key: String,
    /// The class of problem.
    pub kind: DiagnosticKind,
    /// The text after `file:line:col: `.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warn = if self.kind == DiagnosticKind::Warning { "warning: " } else { "" };
        write!(f, "{}:{}:{}: {warn}{}", self.file.display(), self.line, self.column, self.message)
    }
}

/// Why a configuration could not be loaded or edited.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the configuration: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file has problems; at least one diagnostic, in file order.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    /// A `bgp set` argument problem found before the file was touched.
    #[error("{0}")]
    Usage(String),
}

impl ConfigError {
    /// The located problems (empty for `Io` and `Usage`).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            _ => &[],
        }
    }
}

const MAX_SHOWN: usize = 20;

fn render(d: &[Diagnostic]) -> String {
    let mut lines: Vec<String> = d.iter().take(MAX_SHOWN).map(ToString::to_string).collect();
    if d.len() > MAX_SHOWN {
        lines.push(format!("... and {} more errors", d.len().saturating_sub(MAX_SHOWN)));
    }
    lines.join("\n")
}

/// The keys whose values are secrets, by normalized path: `shown` prints neither them nor a
/// value that holds one.
const SECRET_PATHS: [&str; 3] = ["bgp.neighbor.md5", "bgp.neighbor.bfd.key", "bgp.neighbor.tcp_ao.key"];

/// Builds diagnostics for one source text.
pub struct Reporter<'a> {
    pub file: &'a Path,
    pub src: &'a str,
    pub index: &'a SpanIndex,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    /// A reporter over `src`, read from `file`.
    pub fn new(file: &'a Path, src: &'a str, index: &'a SpanIndex) -> Self {
        Reporter { file, src, index, errors: Vec::new(), warnings: Vec::new() }
    }

    /// A diagnostic at a byte offset.
    pub fn at(&self, offset: usize, key: &str, kind: DiagnosticKind, message: String) -> Diagnostic {
        let (line, column) = spans::line_col(self.src, offset);
        Diagnostic { file: self.file.to_path_buf(), line, column, key: key.to_string(), kind, message }
    }

    /// `key = value` as written (value cut to 60 characters; keys redacted), or just `key`.
    pub fn shown(&self, path: &str) -> String {
        let Some(v) = self.index.value_span(path).filter(|_| !self.index.is_table(path)) else {
            return path.to_string();
        };
        // A secret, or a value holding one (`bfd = [{ key = … }]` where a table belongs).
        if self.index.paths_under(path).any(|p| SECRET_PATHS.contains(&spans::normalize(p).as_str())) {
            return format!("{path} = <redacted>");
        }
        let text = self.src.get(v).unwrap_or_default();
        let one_line = text.lines().next().unwrap_or_default();
        let mut shown: String = one_line.chars().take(60).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        format!("{path} = {shown}")
    }

    /// Records an error about the value at `path`: `path = value: what; example: ...`, with
    /// the example from the schema table.
    pub fn error(&mut self, path: &str, kind: DiagnosticKind, what: &str) {
        let d = self.value_diag(path, kind, what, raw::example(&spans::normalize(path)));
        self.errors.push(d);
    }

    /// Like [`Reporter::error`] with a specific example.
    pub fn error_ex(&mut self, path: &str, kind: DiagnosticKind, what: &str, example: &str) {
        let d = self.value_diag(path, kind, what, Some(example));
        self.errors.push(d);
    }

    /// Records a warning about the value at `path`.
    pub fn warn(&mut self, path: &str, what: &str) {
        let d = self.value_diag(path, DiagnosticKind::Warning, what, None);
        self.warnings.push(d);
    }

    fn value_diag(&self, path: &str, kind: DiagnosticKind, what: &str, ex: Option<&str>) -> Diagnostic {
        let msg = match ex {
            Some(ex) => format!("{}: {what}; example: {ex}", self.shown(path)),
            None => format!("{}: {what}", self.shown(path)),
        };
        self.at(self.index.offset(path), path, kind, msg)
    }

    /// Records that `path` is required but absent (`why` says so); points at its table, or at
    /// the start of the file for a missing section.
    pub fn missing(&mut self, path: &str, why: &str) {
        let table = spans::parent(path);
        let offset = if table.is_empty() { 0 } else { self.index.offset(table) };
        let msg = with_example(path, format!("{path}: {why}"));
        let d = self.at(offset, path, DiagnosticKind::MissingKey, msg);
        self.errors.push(d);
    }

    /// Translates a serde/TOML deserialization error. Returns the key path of an unknown key
    /// (which the caller may blank out to look for further errors).
    pub fn serde_error(&mut self, err: &toml::de::Error) -> Option<String> {
        let span = err.span().unwrap_or(0..0);
        let msg = err.message();
        let at_path = self.index.path_at(&span).unwrap_or_default().to_string();
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let table = spans::parent(&at_path);
            let message = unknown_key(name, table, &expected_names(expected));
            let d = self.at(span.start, &at_path, DiagnosticKind::UnknownKey, message);
            self.errors.push(d);
            return Some(at_path);
        }
        // serde also accepts a struct written as an array (fields by position); name the real
        // mistake: an array where a table belongs.
        let array_for_table = at_path
            .match_indices('[')
            .map(|(i, _)| at_path.get(..i).unwrap_or_default())
            .find(|t| raw::TABLES.contains(&spans::normalize(t).as_str()));
        let (key, kind, message) = if let Some(rest) = msg.strip_prefix("missing field `") {
            let path = spans::join(&at_path, rest.split('`').next().unwrap_or_default());
            let text = format!("{path}: missing required key");
            (path.clone(), DiagnosticKind::MissingKey, with_example(&path, text))
        } else if array_for_table.is_some() || msg.starts_with("invalid length") {
            let table = array_for_table.unwrap_or(at_path.as_str());
            let text = format!("{table}: expected a table, found an array");
            (table.to_string(), DiagnosticKind::WrongType, with_example(table, text))
        } else if at_path.is_empty() {
            (String::new(), DiagnosticKind::Syntax, format!("TOML error: {msg}"))
        } else {
            let (kind, what) = match msg.strip_prefix("invalid type: ") {
                Some(rest) => (DiagnosticKind::WrongType, wrong_type(rest)),
                None => (DiagnosticKind::InvalidValue, msg.to_string()),
            };
            let text = format!("{}: {what}", self.shown(&at_path));
            (at_path.clone(), kind, with_example(&at_path, text))
        };
        let d = self.at(span.start, &key, kind, message);
        self.errors.push(d);
        None
    }
}

/// `text; example: ...` when the schema has an example for `path`.
fn with_example(path: &str, text: String) -> String {
    match raw::example(&spans::normalize(path)) {
        Some(ex) => format!("{text}; example: {ex}"),
        None => text,
    }
}

/// `unknown key `x` in [t]; did you mean `y`?` (or the list of valid keys).
pub fn unknown_key(name: &str, table: &str, valid: &[String]) -> String {
    let place = if table.is_empty() {
        "at the top level".to_string()
    } else if table.contains(']') {
        format!("in {table}")
    } else {
        format!("in [{table}]")
    };
    let what = if table.is_empty() { "section" } else { "key" };
    match suggest(name, valid) {
        Some(s) => format!("unknown {what} `{name}` {place}; did you mean `{s}`?"),
        None if valid.is_empty() => format!("unknown {what} `{name}` {place}"),
        None => format!("unknown {what} `{name}` {place}; valid: {}", valid.join(", ")),
    }
}

/// The names in serde's "expected one of `a`, `b`" / "expected `a` or `b`" tail.
fn expected_names(tail: &str) -> Vec<String> {
    tail.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// "string \"x\", expected i64" -> "expected an integer, found a string".
fn wrong_type(rest: &str) -> String {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "?"));
    let found = match found.split([' ', '`', '"']).next().unwrap_or_default() {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a floating-point number",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        "unit" | "option" => "nothing",
        _ => "a date or time",
    };
    let expected = match expected {
        "i64" => "an integer",
        "a boolean" | "bool" => "true or false",
        "a string" => "a quoted string",
        "a sequence" => "an array",
        e if e.starts_with("struct") || e == "a map" => "a table",
        e => e,
    };
    format!("expected {expected}, found {found}")
}

/// Restricted Damerau-Levenshtein (optimal string alignment) distance.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len().saturating_add(1);
    let mut d = vec![0usize; a.len().saturating_add(1).saturating_mul(w)];
    let at = |i: usize, j: usize| i.saturating_mul(w).saturating_add(j);
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(j) {
            *c = j;
        }
    }
    let get = |d: &[usize], i, j| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for (i, ca) in a.iter().enumerate() {
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i, j + 1) + 1).min(get(&d, i + 1, j) + 1).min(get(&d, i, j) + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) {
                v = v.min(get(&d, i - 1, j - 1) + 1);
            }
            if let Some(c) = d.get_mut(at(i + 1, j + 1)) {
                *c = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

/// The closest valid name, if close enough to be a typo.
pub fn suggest(name: &str, valid: &[String]) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (distance(&name.to_ascii_lowercase(), v), v))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn distances() {
        assert_eq!(distance("hold_tme", "hold_time"), 1);
        assert_eq!(distance("bpg", "bgp"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let valid = names(&["local_as", "hold_time", "neighbor"]);
        assert_eq!(suggest("hold_tme", &valid).as_deref(), Some("hold_time"));
        assert_eq!(suggest("neighbour", &valid).as_deref(), Some("neighbor"));
        assert_eq!(suggest("Local_AS", &valid).as_deref(), Some("local_as"));
        assert_eq!(suggest("zzz", &valid), None);
    }

    #[test]
    fn serde_tails() {
        assert_eq!(expected_names("`a` or `b`"), names(&["a", "b"]));
        assert_eq!(expected_names(", expected one of `a`, `b`, `c`"), names(&["a", "b", "c"]));
        assert_eq!(wrong_type("string \"x\", expected i64"), "expected an integer, found a string");
        assert_eq!(wrong_type("integer `3`, expected a sequence"), "expected an array, found an integer");
    }
}
