//! Where each key of a TOML document sits: a flat index from key paths
//! (`bgp.neighbor[1].remote_as`, indices counted from 0) to byte ranges, built once from a
//! `toml_edit::Document`. It answers "which key is at this offset" (to name the key of a serde
//! error) and "where is this key" (to give line:column to errors found after deserialization).
//! Pure: no I/O, no knowledge of the schema.

use std::ops::Range;
use toml_edit::{Item, Table, Value};

/// One key, table header or array element of the document.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    /// The key itself (`hold_time` in `hold_time = 9`).
    key: Option<Range<usize>>,
    /// The value, or for a `[table]` / `[[array]]` element its header.
    value: Option<Range<usize>>,
    /// True for `[table]` and `[[array]]` elements, whose `value` is a header.
    is_table: bool,
}

/// Index of key paths to byte ranges.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    entries: Vec<Entry>,
}

/// Appends a key to a path, quoting keys that are not bare TOML keys.
pub fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// A path without its array indices: `bgp.neighbor[1].md5` -> `bgp.neighbor.md5`.
pub fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '[' => depth = depth.saturating_add(1),
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The last key of a path, without indices: `bgp.neighbor[1].md5` -> `md5`.
pub fn last_key(path: &str) -> String {
    let n = normalize(path);
    n.rsplit('.').next().unwrap_or_default().to_string()
}

/// The path of the table holding a key: `bgp.neighbor[1].md5` -> `bgp.neighbor[1]`.
pub fn parent(path: &str) -> &str {
    match path.rfind('.') {
        Some(i) => path.get(..i).unwrap_or_default(),
        None => "",
    }
}

fn contains(r: &Range<usize>, want: &Range<usize>) -> bool {
    r.start <= want.start && want.end <= r.end.max(r.start.saturating_add(1))
}

impl SpanIndex {
    /// Indexes every key, table header and array element of `doc`.
    pub fn build<S: AsRef<str>>(doc: &toml_edit::Document<S>) -> Self {
        let mut idx = SpanIndex::default();
        idx.table(doc.as_table(), "");
        idx
    }

    fn table(&mut self, t: &Table, path: &str) {
        for (k, item) in t.iter() {
            let p = join(path, k);
            let key = t.key(k).and_then(|k| k.span());
            match item {
                Item::Table(sub) => {
                    self.push(&p, key, sub.span().or_else(|| t.key(k)?.span()), true);
                    self.table(sub, &p);
                }
                Item::ArrayOfTables(a) => {
                    self.push(&p, key, a.span(), false);
                    for (i, sub) in a.iter().enumerate() {
                        let pi = format!("{p}[{i}]");
                        self.push(&pi, None, sub.span(), true);
                        self.table(sub, &pi);
                    }
                }
                Item::Value(v) => {
                    self.push(&p, key, v.span(), false);
                    self.value(v, &p);
                }
                Item::None => {}
            }
        }
    }

    fn value(&mut self, v: &Value, path: &str) {
        match v {
            Value::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    let pi = format!("{path}[{i}]");
                    self.push(&pi, None, e.span(), false);
                    self.value(e, &pi);
                }
            }
            Value::InlineTable(t) => {
                for (k, e) in t.iter() {
                    let p = join(path, k);
                    self.push(&p, t.key(k).and_then(|k| k.span()), e.span(), false);
                    self.value(e, &p);
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, path: &str, key: Option<Range<usize>>, value: Option<Range<usize>>, t: bool) {
        self.entries.push(Entry { path: path.to_string(), key, value, is_table: t });
    }

    /// The innermost key path whose key, value or header covers `span`.
    pub fn path_at(&self, span: &Range<usize>) -> Option<&str> {
        self.entries
            .iter()
            .rev() // on equal spans, prefer the later (inner) entry: an array element's header
            .flat_map(|e| [(e, &e.key), (e, &e.value)])
            .filter_map(|(e, r)| Some((e, r.as_ref()?)))
            .filter(|(_, r)| contains(r, span))
            .min_by_key(|(_, r)| r.end.saturating_sub(r.start))
            .map(|(e, _)| e.path.as_str())
    }

    /// Whether `path` names a `[table]` or `[[array]]` element.
    pub fn is_table(&self, path: &str) -> bool {
        self.entries.iter().any(|e| e.path == path && e.is_table)
    }

    /// The byte range of the value of `path` (a table's header for tables).
    pub fn value_span(&self, path: &str) -> Option<Range<usize>> {
        self.entries.iter().find(|e| e.path == path).and_then(|e| e.value.clone())
    }

    /// Where to point for `path`: its value (or header); else the first located key inside
    /// it; else where its parent is; else the start of the file.
    pub fn offset(&self, path: &str) -> usize {
        let mut p = path;
        loop {
            let own = self.entries.iter().find(|e| e.path == p);
            if let Some(r) = own.and_then(|e| e.value.as_ref().or(e.key.as_ref())) {
                return r.start;
            }
            let inside = format!("{p}.");
            let inside_ix = format!("{p}[");
            let child = self
                .entries
                .iter()
                .filter(|e| p.is_empty() || e.path.starts_with(&inside) || e.path.starts_with(&inside_ix))
                .filter_map(|e| e.key.as_ref().or(e.value.as_ref()))
                .map(|r| r.start)
                .min();
            if let Some(o) = child {
                return o;
            }
            if p.is_empty() {
                return 0;
            }
            p = parent(p);
        }
    }

    /// The entries of `path` and of everything under it.
    fn under<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let inside = format!("{path}.");
        let inside_ix = format!("{path}[");
        self.entries
            .iter()
            .filter(move |e| e.path == path || e.path.starts_with(&inside) || e.path.starts_with(&inside_ix))
    }

    /// The key paths of `path` and of everything under it.
    pub fn paths_under<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.under(path).map(|e| e.path.as_str())
    }

    /// The byte ranges to blank out to delete `path` and everything under it from the source
    /// (used to skip an unknown key and look for further errors).
    pub fn ranges_under(&self, path: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        for e in self.under(path) {
            match (&e.key, &e.value, e.is_table) {
                (Some(k), Some(v), false) if k.start <= v.start => out.push(k.start..v.end),
                (_, Some(v), true) => out.push(v.clone()),
                (Some(k), None, _) => out.push(k.clone()),
                _ => {}
            }
        }
        out
    }
}

/// 1-based line and column (in characters) of a byte offset, clamped to the text.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = src.get(..off).unwrap_or_default();
    let line = before.matches('\n').count().saturating_add(1);
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let col = before.get(line_start..).unwrap_or_default().chars().count().saturating_add(1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a.b = 1\n[bgp]\nlocal_as = 1 # c\nx = { y = 2, z = [1, 2] }\n\
                       [[bgp.neighbor]]\nremote_as = 1\n[[bgp.neighbor]]\nremote_as = 2\n";

    fn index() -> SpanIndex {
        SpanIndex::build(&toml_edit::Document::parse(DOC).expect("valid TOML"))
    }

    fn text_at(path: &str) -> &'static str {
        let o = index().offset(path);
        DOC.get(o..).unwrap_or_default().lines().next().unwrap_or_default()
    }

    #[test]
    fn offsets_point_at_values_and_headers() {
        assert_eq!(text_at("bgp.local_as"), "1 # c");
        assert_eq!(text_at("bgp.x.z[1]"), "2] }");
        assert_eq!(text_at("bgp.neighbor[1]"), "[[bgp.neighbor]]");
        assert_eq!(text_at("bgp.neighbor[1].remote_as"), "2");
        assert_eq!(text_at("bgp.neighbor[1].md5"), "[[bgp.neighbor]]");
        assert_eq!(text_at("anycast.prefixes"), "a.b = 1");
    }

    #[test]
    fn path_at_finds_innermost() {
        let idx = index();
        let at = |s: &str| {
            let o = DOC.find(s).expect("present");
            idx.path_at(&(o..o + s.len())).map(str::to_string)
        };
        assert_eq!(at("local_as").as_deref(), Some("bgp.local_as"));
        assert_eq!(at("2, z").map(|_| ()), Some(()));
        assert_eq!(at("[1, 2]").as_deref(), Some("bgp.x.z"));
        assert_eq!(at("[bgp]").as_deref(), Some("bgp"));
    }

    #[test]
    fn helpers() {
        assert_eq!(normalize("bgp.neighbor[10].md5"), "bgp.neighbor.md5");
        assert_eq!(last_key("bgp.neighbor[1].md5"), "md5");
        assert_eq!(parent("bgp.neighbor[1].md5"), "bgp.neighbor[1]");
        assert_eq!(join("", "a.b"), "\"a.b\"");
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
