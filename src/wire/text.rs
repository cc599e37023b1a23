//! Text that someone else chose: a peer's RFC 8203/9003 shutdown communication or FQDN
//! capability, a health check's output, an HTTP reason phrase. It is escaped once, where it
//! enters the program, so that no log line, `status` text, JSON value or metric label built
//! from it can carry a control character: a peer must not be able to forge a log line (`\n`),
//! colour or clear a terminal (ESC), or reorder what an operator reads (Unicode bidi overrides).
//!
//! The escaped form keeps printable UTF-8 as it is and shows everything else visibly:
//! `\n`, `\r`, `\t`, `\\`, `\"`; other C0 controls and DEL as `\x1b`, `\x7f`; C1 controls, bidi
//! controls and line/paragraph separators as `\u{85}`, `\u{202e}`; a byte that is not UTF-8 as
//! `\xff` (always ≥ `\x80`, so never confused with an ASCII control). Formatting a
//! [`PeerText`] never escapes again. No I/O, no panics.

use std::fmt::{self, Write as _};

/// Peer-supplied text. The only constructor escapes; [`fmt::Display`], [`fmt::Debug`] and
/// [`PeerText::as_str`] show the escaped form, [`PeerText::as_bytes`] keeps the octets as
/// received (to re-encode them, never to print them).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PeerText {
    raw: Vec<u8>,
    shown: String,
}

impl PeerText {
    /// Escapes `bytes` (whatever they are) once.
    pub fn from_bytes(bytes: &[u8]) -> PeerText {
        PeerText { raw: bytes.to_vec(), shown: escape(bytes) }
    }

    /// The escaped text: printable, one line, safe in a log, a terminal or a JSON string.
    pub fn as_str(&self) -> &str {
        &self.shown
    }

    /// The octets as the peer sent them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl fmt::Display for PeerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PeerText {
    /// `"…"` around the escaped form: quotes and backslashes in it are already escaped, so
    /// this is not escaped a second time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        f.write_str(&self.shown)?;
        f.write_char('"')
    }
}

impl PartialEq<str> for PeerText {
    /// Compares the escaped form.
    fn eq(&self, other: &str) -> bool {
        self.shown == other
    }
}

impl PartialEq<&str> for PeerText {
    fn eq(&self, other: &&str) -> bool {
        self.shown == *other
    }
}

impl serde::Serialize for PeerText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown)
    }
}

/// The escaped form of `bytes` (see the module documentation).
pub fn escape(bytes: &[u8]) -> String {
    escape_at_most(bytes, usize::MAX)
}

/// The escaped form of the first `max_units` characters of `bytes` (a byte that is not UTF-8
/// counts as one), so a cut never splits an escape.
pub fn escape_at_most(bytes: &[u8], max_units: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max_units));
    let units = bytes
        .utf8_chunks()
        .flat_map(|c| c.valid().chars().map(Unit::Char).chain(c.invalid().iter().map(|&b| Unit::Byte(b))));
    for u in units.take(max_units) {
        match u {
            Unit::Char(c) => push_char(&mut out, c),
            Unit::Byte(b) => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

enum Unit {
    Char(char),
    Byte(u8),
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        '"' => out.push_str("\\\""),
        '\0'..='\x1f' | '\x7f' => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if shown_as_code_point(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// C1 controls, the Unicode bidi controls (UAX #9 §2: ALM, LRM, RLM, LRE…RLO, LRI…PDI) and
/// the line and paragraph separators.
fn shown_as_code_point(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept() {
        assert_eq!(escape("maintenance à 02:00 — ok".as_bytes()), "maintenance à 02:00 — ok");
        assert_eq!(escape(b""), "");
    }

    #[test]
    fn controls_newlines_ansi_and_bidi_are_shown_escaped() {
        let forged = "bye\n2026-12-01T00:00:00Z  INFO forged line\x1b[31m\r\t\0\x7f";
        assert_eq!(escape(forged.as_bytes()), "bye\\n2026-12-01T00:00:00Z  INFO forged line\\x1b[31m\\r\\t\\x00\\x7f");
        assert_eq!(
            escape("a\u{85}b\u{202e}c\u{2066}d\u{2069}e\u{200f}\u{2028}".as_bytes()),
            "a\\u{85}b\\u{202e}c\\u{2066}d\\u{2069}e\\u{200f}\\u{2028}"
        );
        // Quotes and backslashes too, so an escaped text in quotes cannot close them, and a
        // peer's literal `\n` is told apart from an escaped newline.
        assert_eq!(escape(br#"say "hi" \n"#), r#"say \"hi\" \\n"#);
    }

    #[test]
    fn invalid_utf8_is_shown_not_replaced() {
        assert_eq!(escape(b"ok\xff\xc3(\xe2\x82"), "ok\\xff\\xc3(\\xe2\\x82");
    }

    #[test]
    fn every_byte_escapes_to_printable_text() {
        for b in 0..=255u8 {
            let s = escape(&[b, b'x', b]);
            assert!(!s.chars().any(|c| c.is_control()), "{b:#04x}: {s:?}");
        }
        // All of Unicode's control and format characters that could move or hide text.
        for c in ('\0'..='\u{ffff}').filter(|c| c.is_control() || shown_as_code_point(*c)) {
            let s = escape(c.to_string().as_bytes());
            assert!(s.starts_with('\\') && s.is_ascii(), "{c:?} -> {s:?}");
        }
    }

    #[test]
    fn cut_never_splits_an_escape() {
        assert_eq!(escape_at_most(b"a\x1bbc", 2), "a\\x1b");
        assert_eq!(escape_at_most("é\u{202e}x".as_bytes(), 2), "é\\u{202e}");
        assert_eq!(escape_at_most(b"\xff\xfe", 1), "\\xff");
    }

    #[test]
    fn formatting_does_not_escape_twice() {
        let t = PeerText::from_bytes(b"a\nb\"c");
        assert_eq!(t.to_string(), "a\\nb\\\"c");
        assert_eq!(format!("{t:?}"), "\"a\\nb\\\"c\"");
        assert_eq!(serde_json::to_value(&t).unwrap(), serde_json::json!("a\\nb\\\"c"));
        assert_eq!(t.as_bytes(), b"a\nb\"c");
        assert_eq!(t, "a\\nb\\\"c");
    }
}
