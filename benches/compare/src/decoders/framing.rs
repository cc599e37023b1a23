//! Message framing shared by decoders whose library has no stream API, and the
//! `framing_only` ceiling: read the 2-octet length at offset 16 and skip.

use crate::Counts;

const HEADER_LEN: usize = 19;

/// Splits a stream into messages (header included). Yields an error and stops at the
/// first truncated or impossible length. Bounded: each step consumes ≥ 19 octets.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = Result<(usize, &[u8]), String>> {
    let mut rest = bytes;
    let mut offset = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if rest.is_empty() || failed {
            return None;
        }
        let len = match rest.get(16..18) {
            Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => {
                failed = true;
                return Some(Err(format!("truncated header at offset {offset}")));
            }
        };
        if len < HEADER_LEN || len > rest.len() {
            failed = true;
            return Some(Err(format!(
                "bad length {len} at offset {offset} ({} octets left)",
                rest.len()
            )));
        }
        let (msg, tail) = rest.split_at(len);
        let at = offset;
        rest = tail;
        offset += len;
        Some(Ok((at, msg)))
    })
}

/// The ceiling: frame every message, decode nothing.
pub fn decode_framing_only(bytes: &[u8]) -> Result<Counts, String> {
    let mut c = Counts::default();
    for f in frames(bytes) {
        f?;
        c.message();
    }
    Ok(c)
}
