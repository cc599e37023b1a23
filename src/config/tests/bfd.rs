//! A neighbor's `bfd` table: every valid form gives its typed [`Bfd`], every error its exact
//! located message, and no message or `Debug` shows a key.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::bfd::{AuthConfig, AuthType};

const F: &str = FILE;

/// MINIMAL with `extra` as line 8, inside the neighbor.
fn neighbor_with(extra: &str) -> String {
    MINIMAL.replacen("remote_as = 65000", &format!("remote_as = 65000\n{extra}"), 1)
}

fn bfd_of(extra: &str) -> Option<Bfd> {
    let c = parse(&neighbor_with(extra)).unwrap_or_else(|e| panic!("{e}"));
    c.bgp.neighbors.first().and_then(|n| n.bfd.clone())
}

fn one(extra: &str) -> String {
    let e = errors(&neighbor_with(extra));
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap_or_default()
}

fn mult(n: u8) -> NonZeroU8 {
    NonZeroU8::new(n).expect("non-zero")
}

fn auth(t: AuthType, key_id: u8, key: &[u8]) -> Option<AuthConfig> {
    Some(AuthConfig::new(t, key_id, key).expect("valid key"))
}

/// A key file with `contents` and `mode` in `dir`.
fn key_file(dir: &TempDir, contents: &[u8], mode: u32) -> PathBuf {
    let key = dir.0.join("bfd.key");
    std::fs::write(&key, contents).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).expect("chmod");
    key
}

#[test]
fn absent_means_no_bfd() {
    assert_eq!(bfd_of(""), None);
}

#[test]
fn an_empty_table_gets_the_defaults() {
    let want = Bfd { interval: Duration::from_millis(300), multiplier: mult(3), auth: None, strict: true };
    assert_eq!(bfd_of("bfd = {}"), Some(want));
}

#[test]
fn interval_and_multiplier() {
    let want = Bfd { interval: Duration::from_millis(50), multiplier: mult(3), auth: None, strict: true };
    assert_eq!(bfd_of("bfd = { interval_ms = 50, multiplier = 3 }"), Some(want));
    let low = bfd_of("bfd = { interval_ms = 10, multiplier = 1, strict = false }");
    let want = Bfd { interval: BFD_MIN_INTERVAL, multiplier: mult(1), auth: None, strict: false };
    assert_eq!(low, Some(want));
    let high = bfd_of("bfd = { interval_ms = 60000, multiplier = 255 }");
    assert_eq!(high.map(|b| (b.interval, b.multiplier)), Some((Duration::from_secs(60), mult(255))));
}

#[test]
fn a_subtable_works_like_an_inline_table() {
    let text = MINIMAL.replacen(
        "remote_as = 65000\n",
        "remote_as = 65000\n[bgp.neighbor.bfd]\ninterval_ms = 100 # fast\nmultiplier = 5\n",
        1,
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let b = c.bgp.neighbors.first().and_then(|n| n.bfd.clone());
    assert_eq!(b.map(|b| (b.interval, b.multiplier)), Some((Duration::from_millis(100), mult(5))));
}

#[test]
fn every_auth_type_with_an_inline_key() {
    let cases = [
        ("simple", AuthType::SimplePassword),
        ("keyed-md5", AuthType::KeyedMd5),
        ("meticulous-keyed-md5", AuthType::MeticulousKeyedMd5),
        ("keyed-sha1", AuthType::KeyedSha1),
        ("meticulous-keyed-sha1", AuthType::MeticulousKeyedSha1),
    ];
    for (name, t) in cases {
        let b = bfd_of(&format!("bfd = {{ interval_ms = 50, multiplier = 3, auth = \"{name}\", key = \"s3cret\" }}"));
        assert_eq!(b.map(|b| b.auth), Some(auth(t, 1, b"s3cret")), "{name}");
    }
    let b = bfd_of("bfd = { auth = \"keyed-sha1\", key_id = 0, key = \"twenty-octets-sha1-k\" }");
    assert_eq!(b.map(|b| b.auth), Some(auth(AuthType::KeyedSha1, 0, b"twenty-octets-sha1-k")));
    let b = bfd_of("bfd = { auth = \"simple\", key_id = 255, key = \"sixteen-octets-p\" }");
    assert_eq!(b.map(|b| b.auth), Some(auth(AuthType::SimplePassword, 255, b"sixteen-octets-p")));
}

#[test]
fn key_file_is_read_and_its_line_break_dropped() {
    let dir = TempDir::new("bfdok");
    let key = key_file(&dir, b"s3cret-bfd\n", 0o600);
    let extra = format!("bfd = {{ auth = \"meticulous-keyed-md5\", key_id = 7, key_file = \"{}\" }}", key.display());
    assert_eq!(bfd_of(&extra).map(|b| b.auth), Some(auth(AuthType::MeticulousKeyedMd5, 7, b"s3cret-bfd")));
}

#[test]
fn keys_never_show_in_debug() {
    let c = parse(&neighbor_with("bfd = { auth = \"keyed-sha1\", key = \"s3cret-bfd\" }")).expect("valid");
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret-bfd") && shown.contains("AuthKey(<redacted>)"), "{shown}");
}

#[test]
fn out_of_range_values() {
    let cases = [
        (
            "bfd = { interval_ms = 9 }",
            "8:23: bgp.neighbor[0].bfd.interval_ms = 9: milliseconds must be 10 to 60000; example: interval_ms = 300",
        ),
        (
            "bfd = { interval_ms = 60001 }",
            "8:23: bgp.neighbor[0].bfd.interval_ms = 60001: milliseconds must be 10 to 60000; example: interval_ms = 300",
        ),
        (
            "bfd = { multiplier = 0 }",
            "8:22: bgp.neighbor[0].bfd.multiplier = 0: a detection multiplier must be 1 to 255; example: multiplier = 3",
        ),
        (
            "bfd = { multiplier = 256 }",
            "8:22: bgp.neighbor[0].bfd.multiplier = 256: a detection multiplier must be 1 to 255; example: multiplier = 3",
        ),
        (
            "bfd = { auth = \"simple\", key = \"k\", key_id = -1 }",
            "8:46: bgp.neighbor[0].bfd.key_id = -1: a key ID must be 0 to 255; example: key_id = 1",
        ),
        (
            "bfd = { auth = \"keyed-sha\", key = \"k\" }",
            "8:16: bgp.neighbor[0].bfd.auth = \"keyed-sha\": must be one of simple, keyed-md5, meticulous-keyed-md5, \
             keyed-sha1, meticulous-keyed-sha1; example: auth = \"keyed-sha1\"",
        ),
        (
            "bfd = { auth = \"sha256\", key = \"k\" }",
            "8:16: bgp.neighbor[0].bfd.auth = \"sha256\": must be one of simple, keyed-md5, meticulous-keyed-md5, \
             keyed-sha1, meticulous-keyed-sha1; example: auth = \"meticulous-keyed-sha1\"",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(one(extra), format!("{F}:{want}"), "{extra}");
    }
}

#[test]
fn wrong_types() {
    assert_eq!(
        one("bfd = true"),
        format!(
            "{F}:8:7: bgp.neighbor[0].bfd = true: expected a table, found a boolean; \
             example: bfd = {{ interval_ms = 300, multiplier = 3 }}"
        )
    );
    assert_eq!(
        one("bfd = { interval_ms = \"50\" }"),
        format!(
            "{F}:8:23: bgp.neighbor[0].bfd.interval_ms = \"50\": expected an integer, found a string; \
             example: interval_ms = 300"
        )
    );
    assert_eq!(
        one("bfd = { strict = \"no\" }"),
        format!("{F}:8:18: bgp.neighbor[0].bfd.strict = \"no\": expected true or false, found a string; example: strict = true")
    );
}

#[test]
fn unknown_keys_name_the_known_ones() {
    assert_eq!(
        one("bfd = { intervl_ms = 50 }"),
        format!("{F}:8:9: unknown key `intervl_ms` in bgp.neighbor[0].bfd; did you mean `interval_ms`?")
    );
    assert_eq!(
        errors(&neighbor_with("bfd = { zzz = 1, multiplier = 3, min_rx = 5 }")),
        [
            format!(
                "{F}:8:9: unknown key `zzz` in bgp.neighbor[0].bfd; valid: interval_ms, multiplier, auth, key_id, \
                 key, key_file, strict"
            ),
            format!(
                "{F}:8:34: unknown key `min_rx` in bgp.neighbor[0].bfd; valid: interval_ms, multiplier, auth, \
                 key_id, key, key_file, strict"
            ),
        ]
    );
}

#[test]
fn auth_and_key_must_come_together() {
    let ex_file = "example: key_file = \"/etc/anycastd/bfd.key\"";
    assert_eq!(
        one("bfd = { auth = \"keyed-md5\" }"),
        format!("{F}:8:16: bgp.neighbor[0].bfd.auth = \"keyed-md5\": needs a key: add key or key_file; {ex_file}")
    );
    assert_eq!(
        one("bfd = { auth = \"keyed-md5\", key = \"s3cret\", key_file = \"/etc/anycastd/bfd.key\" }"),
        format!(
            "{F}:8:56: bgp.neighbor[0].bfd.key_file = \"/etc/anycastd/bfd.key\": key and key_file are both set; \
             keep one; {ex_file}"
        )
    );
    let ex_auth = "example: auth = \"meticulous-keyed-sha1\"";
    assert_eq!(
        one("bfd = { key = \"s3cret\" }"),
        format!(
            "{F}:8:15: bgp.neighbor[0].bfd.key = <redacted>: a key is only used with auth; set auth or remove key; \
             {ex_auth}"
        )
    );
    assert_eq!(
        one("bfd = { key_file = \"/etc/anycastd/bfd.key\" }"),
        format!(
            "{F}:8:20: bgp.neighbor[0].bfd.key_file = \"/etc/anycastd/bfd.key\": a key is only used with auth; \
             set auth or remove key_file; {ex_auth}"
        )
    );
}

#[test]
fn key_id_without_auth_is_a_warning() {
    let c = parse(&neighbor_with("bfd = { key_id = 2 }")).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w, [format!("{F}:8:18: warning: bgp.neighbor[0].bfd.key_id = 2: has no effect without auth")]);
}

#[test]
fn key_length_is_checked_for_the_type_and_redacted() {
    let long = "k".repeat(17);
    assert_eq!(
        one(&format!("bfd = {{ auth = \"keyed-md5\", key = \"{long}\" }}")),
        format!(
            "{F}:8:35: bgp.neighbor[0].bfd.key = <redacted>: the BFD key is 17 octets; keyed-md5 allows at most 16; \
             example: key = \"a-bfd-secret\""
        )
    );
    assert!(bfd_of(&format!("bfd = {{ auth = \"keyed-sha1\", key = \"{long}\" }}")).is_some(), "SHA1 allows 20");
    assert_eq!(
        one("bfd = { auth = \"simple\", key = \"\" }"),
        format!(
            "{F}:8:32: bgp.neighbor[0].bfd.key = <redacted>: the BFD key is empty; example: key = \"a-bfd-secret\""
        )
    );
}

#[test]
fn key_file_problems() {
    let dir = TempDir::new("bfdbad");
    let path = dir.0.join("bfd.key");
    let extra = format!("bfd = {{ auth = \"keyed-sha1\", key_file = \"{}\" }}", path.display());
    let at = format!("{F}:8:41: bgp.neighbor[0].bfd.key_file = \"{}\"", path.display());
    let ex = "example: key_file = \"/etc/anycastd/bfd.key\"";
    assert_eq!(one(&extra), format!("{at}: the key file does not exist; {ex}"));
    key_file(&dir, b"s3cret\n", 0o640);
    assert_eq!(
        one(&extra),
        format!("{at}: the key file has mode 640, open to group or others; run `chmod 600 {}`; {ex}", path.display())
    );
    key_file(&dir, b"\n", 0o600);
    assert_eq!(one(&extra), format!("{at}: in the key file: the BFD key is empty; {ex}"));
    // A second line (or a CR) would be part of the key: refused, not trimmed (issue 16).
    key_file(&dir, b"s3cret\n\n", 0o600);
    let fix = "write the file with `printf '%s\\n' 'THE-KEY' > FILE` (one line, one LF)";
    assert_eq!(
        one(&extra),
        format!("{at}: the key file has more than one line (or a line break inside the key); {fix}; {ex}")
    );
    key_file(&dir, &[b'k'; 21], 0o600);
    assert_eq!(
        one(&extra),
        format!("{at}: in the key file: the BFD key is 21 octets; keyed-sha1 allows at most 20; {ex}")
    );
    std::fs::remove_file(&path).expect("remove");
    std::fs::create_dir(&path).expect("mkdir");
    assert_eq!(one(&extra), format!("{at}: the key file is not a regular file; {ex}"));
    assert_eq!(
        one("bfd = { auth = \"keyed-sha1\", key_file = \"bfd.key\" }"),
        format!("{F}:8:41: bgp.neighbor[0].bfd.key_file = \"bfd.key\": must be an absolute path; {ex}")
    );
}

#[test]
fn several_bfd_errors_at_once() {
    let e = errors(&neighbor_with("bfd = { interval_ms = 1, multiplier = 0, auth = \"md5\" }"));
    let at: Vec<&str> = e.iter().map(|s| s.split(": ").next().unwrap_or_default()).collect();
    assert_eq!(at, [format!("{F}:8:23"), format!("{F}:8:39"), format!("{F}:8:49")], "{e:#?}");
}

#[test]
fn no_error_shows_a_key_even_in_a_malformed_bfd_value_and_an_array_is_named() {
    let forms = [
        "bfd = [{ auth = \"simple\", key = \"s3cret-bfd\" }]",
        "bfd = { auth = \"simple\", key = [\"s3cret-bfd\"] }",
        "bfd = { auth = \"simple\", key = { k = \"s3cret-bfd\" } }",
        "bfd = { auth = \"simple\", key = \"s3cret-bfd\", strict = 1 }",
        "bfd = { auth = \"smple\", key = \"s3cret-bfd\" }",
        "bfd = { key = \"s3cret-bfd\", kye = 1 }",
        "bfd.key = \"s3cret-bfd\"\nbfd.auth = 5",
    ];
    for extra in forms {
        let e = errors(&neighbor_with(extra));
        assert!(e.iter().all(|m| !m.contains("s3cret")), "{extra}: {e:#?}");
    }
    assert_eq!(
        one("bfd = [{ auth = \"simple\", key = \"s3cret-bfd\" }]"),
        format!(
            "{F}:8:8: bgp.neighbor[0].bfd: expected a table, found an array; \
             example: bfd = {{ interval_ms = 300, multiplier = 3 }}"
        )
    );
}

#[test]
fn multihop_bfd_without_auth_is_a_warning() {
    let c = parse(&neighbor_with("multihop = 2\nbfd = { interval_ms = 50 }")).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("bgp.neighbor[0].bfd") && w[0].contains("multihop BFD without auth"), "{w:?}");
    let c = parse(&neighbor_with("multihop = 2\nbfd = { auth = \"meticulous-keyed-sha1\", key = \"s3cret\" }"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = parse(&neighbor_with("bfd = { interval_ms = 50 }")).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "single hop: {:?}", c.warnings);
}
