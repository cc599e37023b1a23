//! `bfd = { … }` of a `[[bgp.neighbor]]`, raw → [`Bfd`]: the interval and Detect Mult, the
//! authentication (type, Key ID, key inline or from a key file) and `strict`. Each rule
//! records a located error through the `Reporter` and carries on. Reads `key_file` through
//! `values::key_file` (the only I/O); never prints a key; knows nothing of sockets or
//! sessions (that is `crate::bfd`).

use std::num::NonZeroU8;

use super::error::{DiagnosticKind as K, Reporter};
use super::raw::RawBfd;
use super::values::{choice, key_file, millis, num};
use super::{Bfd, BFD_INTERVAL_MS, BFD_MIN_INTERVAL};
use crate::bfd::{AuthConfig, AuthType};

/// `interval_ms` when the table does not set it: with the default multiplier a failure is
/// detected in under a second, slow enough for any router's control plane.
const DEFAULT_INTERVAL_MS: u32 = 300;
/// `multiplier` when the table does not set it.
const DEFAULT_MULTIPLIER: u8 = 3;
/// `key_id` when `auth` is set without one.
const DEFAULT_KEY_ID: u8 = 1;

const _: () = assert!(BFD_MIN_INTERVAL.as_millis() == *BFD_INTERVAL_MS.start() as u128);

/// The example shown when a key is missing or set twice.
const KEY_FILE_EXAMPLE: &str = "key_file = \"/etc/anycastd/bfd.key\"";

/// `bfd` of a neighbor, `path` being its key path (`bgp.neighbor[0].bfd`). Every key is
/// optional: `bfd = {}` is a session with [`DEFAULT_INTERVAL_MS`], [`DEFAULT_MULTIPLIER`], no
/// authentication, strict.
pub fn neighbor_bfd(b: RawBfd, path: &str, r: &mut Reporter<'_>) -> Option<Bfd> {
    let p = |k: &str| format!("{path}.{k}");
    let (lo, hi) = (u32::from(*BFD_INTERVAL_MS.start()), u32::from(*BFD_INTERVAL_MS.end()));
    let interval = millis(r, &p("interval_ms"), b.interval_ms, DEFAULT_INTERVAL_MS, lo, hi);
    let multiplier = match b.multiplier {
        Some(v) => num(r, &p("multiplier"), v, 1u8, u8::MAX, "a detection multiplier").and_then(NonZeroU8::new),
        None => NonZeroU8::new(DEFAULT_MULTIPLIER),
    };
    let auth = auth(&b, path, r);
    Some(Bfd { interval: interval?, multiplier: multiplier?, auth: auth?, strict: b.strict.unwrap_or(true) })
}

/// `auth`, `key_id`, `key`, `key_file`: `Some(None)` without authentication, `None` when
/// something is wrong (reported).
fn auth(b: &RawBfd, path: &str, r: &mut Reporter<'_>) -> Option<Option<AuthConfig>> {
    let p = |k: &str| format!("{path}.{k}");
    let key_id = match b.key_id {
        Some(v) => num(r, &p("key_id"), v, 0u8, u8::MAX, "a key ID"),
        None => Some(DEFAULT_KEY_ID),
    };
    let Some(name) = &b.auth else {
        if b.key_id.is_some() {
            r.warn(&p("key_id"), "has no effect without auth");
        }
        let mut ok = true;
        for (key, present) in [("key", b.key.is_some()), ("key_file", b.key_file.is_some())] {
            if present {
                let what = format!("a key is only used with auth; set auth or remove {key}");
                r.error_ex(&p(key), K::Conflict, &what, "auth = \"meticulous-keyed-sha1\"");
                ok = false;
            }
        }
        return ok.then_some(None);
    };
    let names: Vec<&str> = AuthType::ALL.iter().map(|t| t.name()).collect();
    let auth_type = *AuthType::ALL.get(choice(r, &p("auth"), name, &names)?)?;
    let key_id = key_id?;
    let config = |key: Vec<u8>| AuthConfig::new(auth_type, key_id, key);
    match (&b.key, &b.key_file) {
        (Some(_), Some(_)) => {
            r.error_ex(&p("key_file"), K::Conflict, "key and key_file are both set; keep one", KEY_FILE_EXAMPLE);
            None
        }
        (Some(k), None) => config(k.as_bytes().to_vec())
            .map(Some)
            .map_err(|e| r.error(&p("key"), K::InvalidValue, &e.to_string()))
            .ok(),
        (None, Some(f)) => key_file(r, &p("key_file"), f, config).map(Some),
        (None, None) => {
            r.error_ex(&p("auth"), K::MissingKey, "needs a key: add key or key_file", KEY_FILE_EXAMPLE);
            None
        }
    }
}
