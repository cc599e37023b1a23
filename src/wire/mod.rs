//! BGP-4 wire codec: pure bytes ⇄ messages (RFC 4271 §4 and the extensions anycastd meets in
//! the field). No I/O, no clocks, no panics on any input: every failure is a [`DecodeError`]
//! that already knows its NOTIFICATION and RFC 7606 action.
//!
//! Decoding depends on what the session negotiated (4-octet AS, extended message, add-path),
//! passed in explicitly as [`SessionParams`]. UPDATEs are decoded in place ([`Update`]): one
//! validating pass, then borrowed iterators, so a full table decodes without allocating per
//! message.
//!
//! The no-panic contract is structural: the lints below forbid indexing, slicing, truncating
//! casts, unchecked arithmetic, `unwrap`/`expect` and `panic!` in every file of `wire/` (unit
//! tests excepted), so a read past the end is a `get`/`split_first_chunk` that the decoder must
//! answer, a length sum is `checked_`/`saturating_`, and an encoder that cannot represent a
//! value returns an [`EncodeError`] instead of cutting it.
#![deny(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod as_path;
pub mod attr;
pub mod build;
pub mod capability;
pub mod community;
pub mod header;
pub mod nlri;
pub mod notification;
pub mod open;
mod reader;
pub mod route_refresh;
pub mod text;
pub mod update;

pub use capability::{AfiSafi, Capability};
pub use header::{frame, Frame, MessageType};
pub use notification::{DecodeError, ErrorAction, Notification};
pub use open::Open;
pub use route_refresh::RouteRefresh;
pub use text::PeerText;
pub use update::{Update, UpdateMsg};

use bytes::BufMut;

/// What the session negotiated that changes how messages are read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry
    /// 4-octet ASNs.
    pub four_octet_as: bool,
    /// Both sides sent Extended Message (RFC 8654): UPDATEs up to 65535 octets.
    pub extended_message: bool,
    /// Add-path receive negotiated for IPv4 / IPv6 unicast (RFC 7911).
    pub add_path_v4: bool,
    pub add_path_v6: bool,
}

impl Default for SessionParams {
    /// A modern session: 4-octet AS, 4096-octet messages, no add-path.
    fn default() -> Self {
        SessionParams { four_octet_as: true, extended_message: false, add_path_v4: false, add_path_v6: false }
    }
}

impl SessionParams {
    /// Before OPENs are exchanged: nothing negotiated yet.
    pub fn before_open() -> Self {
        SessionParams { four_octet_as: false, ..Default::default() }
    }

    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            header::MAX_EXTENDED_MESSAGE_LEN
        } else {
            header::MAX_MESSAGE_LEN
        }
    }
}

/// One decoded message. UPDATEs borrow from the input.
// The Update view is boxed: measured on the full-table corpus, one small allocation (freed
// right after, malloc's fast path) costs less than moving the 376-octet view through
// `Update::decode` → `Message` → `Result` (80 → 66 ms per table, BENCHMARKS.md).
#[derive(Clone, Debug)]
pub enum Message<'a> {
    Open(Open),
    Update(Box<Update<'a>>),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message<'_> {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

/// Decodes the message at the start of `buf` and returns it with its length. A buffer that
/// ends before the message does is a Bad Message Length error here; a stream reader uses
/// [`frame`] first to wait for more octets.
#[inline(always)]
pub fn decode_message<'a>(buf: &'a [u8], p: &SessionParams) -> Result<(Message<'a>, usize), DecodeError> {
    let truncated = || {
        DecodeError::reset(
            notification::code::MESSAGE_HEADER,
            notification::header::BAD_MESSAGE_LENGTH,
            header::length_field(buf).map(Vec::from).unwrap_or_default(),
            format!("truncated: {} octets present", buf.len()),
        )
    };
    let Some(f) = frame(buf, p.max_message_len())? else {
        return Err(truncated());
    };
    // The framer only returns a frame that the buffer holds.
    let whole = buf.get(..f.len).ok_or_else(truncated)?;
    Ok((decode_frame(f, whole, p)?, f.len))
}

/// Decodes a message that [`frame`] has delimited (`whole` = header + body).
#[inline(always)]
pub fn decode_frame<'a>(f: Frame, whole: &'a [u8], p: &SessionParams) -> Result<Message<'a>, DecodeError> {
    let body = whole.get(header::HEADER_LEN..).unwrap_or_default();
    Ok(match f.msg_type {
        MessageType::Open => Message::Open(Open::decode(body)?),
        MessageType::Update => Message::Update(Update::decode_boxed(body, p)?),
        MessageType::Notification => Message::Notification(Notification::decode(body, whole)?),
        MessageType::Keepalive => Message::Keepalive,
        MessageType::RouteRefresh => Message::RouteRefresh(RouteRefresh::decode(body, whole)?),
    })
}

/// Lower-case hex of some octets (logs, NOTIFICATION data, `decode` output, digests in
/// `md5 verify`).
pub fn hex(b: &[u8]) -> String {
    let digit = |d: u8| char::from_digit(u32::from(d), 16).unwrap_or('?');
    let mut s = String::with_capacity(b.len().saturating_mul(2));
    for x in b {
        s.push(digit(x >> 4));
        s.push(digit(x & 15));
    }
    s
}

/// Parses hex text (whitespace ignored); `None` on an odd count or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let v = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    digits.as_chunks::<2>().0.iter().map(|&[hi, lo]| Some((v(hi)? << 4) | v(lo)?)).collect()
}

/// Appends a KEEPALIVE.
pub fn encode_keepalive(buf: &mut impl BufMut) {
    header::encode_keepalive(buf)
}

/// Why a message or a field could not be encoded. Encoders that return it write nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A message over the negotiated maximum, or a value longer than its length field can say.
    #[error("{what} of {len} octets exceeds the {max}-octet maximum")]
    TooLong { what: &'static str, len: usize, max: usize },
    /// Prefixes of a family that was given no next hop (`build::announce`).
    #[error("{count} {family} prefixes but no {family} next hop")]
    MissingNextHop { family: &'static str, count: usize },
}
