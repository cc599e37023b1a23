//! `tcp_ao = { … }` of a `[[bgp.neighbor]]`, raw → [`TcpAo`]: one Master Key Tuple (RFC 5925
//! §3.1: SendID, RecvID, MAC algorithm, key inline or from a key file). anycastd does not
//! implement TCP-AO: the table is parsed so that `check-config` and the daemon can refuse the
//! neighbor with the reason (the kernel's support, probed by `speaker::transport`), never fall
//! back to TCP-MD5 or to unsigned; [`Config::unsupported`] locates each such neighbor for
//! `check-config`. Reads `key_file` through `values::key_file` (the only I/O); never prints a
//! key.

use super::error::{Diagnostic, DiagnosticKind, DiagnosticKind as K, Reporter};
use super::raw::RawTcpAo;
use super::spans::SpanIndex;
use super::values::{choice, key_file, num};
use super::{Config, Neighbor};
use crate::types::TcpAoKey;
use std::path::Path;

/// The MAC algorithm (`algorithm`): the two RFC 5926 §3.1 requires of every TCP-AO, and
/// HMAC-SHA-256, which Linux offers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAoAlgorithm {
    /// HMAC-SHA-1-96 (RFC 5926), the default.
    HmacSha1,
    /// AES-128-CMAC-96 (RFC 5926).
    Aes128Cmac,
    /// HMAC-SHA-256 (Linux `hmac(sha256)`).
    HmacSha256,
}

impl TcpAoAlgorithm {
    const NAMES: [&'static str; 3] = ["hmac-sha1", "aes-128-cmac", "hmac-sha256"];
    const ALL: [TcpAoAlgorithm; 3] = [Self::HmacSha1, Self::Aes128Cmac, Self::HmacSha256];
}

/// TCP-AO with one neighbor (RFC 5925): one Master Key Tuple. The key never shows in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpAo {
    /// SendID: the KeyID we put in our segments (0-255).
    pub send_id: u8,
    /// RecvID: the KeyID we expect in the peer's (0-255).
    pub recv_id: u8,
    /// `algorithm`, `hmac-sha1` unless set.
    pub algorithm: TcpAoAlgorithm,
    pub key: TcpAoKey,
}

const KEY_FILE_EXAMPLE: &str = "key_file = \"/etc/anycastd/ao.key\"";

/// `tcp_ao` of a neighbor at `path` (`bgp.neighbor[0].tcp_ao`); `None` when something is
/// wrong (reported).
pub fn neighbor_tcp_ao(a: RawTcpAo, path: &str, r: &mut Reporter<'_>) -> Option<TcpAo> {
    let p = |k: &str| format!("{path}.{k}");
    let mut id = |key: &str, v: Option<i64>| match v {
        Some(v) => num(r, &p(key), v, 0u8, u8::MAX, "a TCP-AO KeyID"),
        None => {
            r.missing(&p(key), "missing: the KeyID (0-255) this Master Key Tuple uses (RFC 5925 §3.1)");
            None
        }
    };
    let send_id = id("send_id", a.send_id);
    let recv_id = id("recv_id", a.recv_id);
    let algorithm = match &a.algorithm {
        Some(name) => TcpAoAlgorithm::ALL.get(choice(r, &p("algorithm"), name, &TcpAoAlgorithm::NAMES)?).copied(),
        None => Some(TcpAoAlgorithm::HmacSha1),
    };
    let key = match (&a.key, &a.key_file) {
        (Some(_), Some(_)) => {
            r.error_ex(&p("key_file"), K::Conflict, "key and key_file are both set; keep one", KEY_FILE_EXAMPLE);
            None
        }
        (Some(k), None) => TcpAoKey::new(k.as_bytes()).map_err(|e| r.error(&p("key"), K::InvalidValue, &e.0)).ok(),
        (None, Some(f)) => key_file(r, &p("key_file"), f, TcpAoKey::new),
        (None, None) => {
            r.error_ex(path, K::MissingKey, "needs a key: add key or key_file", KEY_FILE_EXAMPLE);
            None
        }
    };
    Some(TcpAo { send_id: send_id?, recv_id: recv_id?, algorithm: algorithm?, key: key? })
}

impl Config {
    /// What this host cannot do, as located errors in `text` (the file `file` was loaded
    /// from): each neighbor's `tcp_ao` with `tcp_ao_refusal`, the kernel probe's answer.
    /// `check-config` fails on them; the daemon starts those neighbors disabled, with the
    /// same reason in `status`.
    pub fn unsupported(&self, file: &Path, text: &str, tcp_ao_refusal: &str) -> Vec<Diagnostic> {
        let Ok(doc) = toml_edit::Document::parse(text) else { return Vec::new() };
        let index = SpanIndex::build(&doc);
        let r = Reporter::new(file, text, &index);
        let located = |(i, _): (usize, &Neighbor)| {
            let key = format!("bgp.neighbor[{i}].tcp_ao");
            let msg = format!("{key}: {tcp_ao_refusal}");
            r.at(index.offset(&key), &key, DiagnosticKind::Unsupported, msg)
        };
        self.bgp.neighbors.iter().enumerate().filter(|(_, n)| n.tcp_ao.is_some()).map(located).collect()
    }
}
