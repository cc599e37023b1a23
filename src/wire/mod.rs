//! BGP-4 wire codec: pure bytes ⇄ messages (RFC 4271 §4 and the extensions anycastd meets in
//! the field). No I/O, no clocks, no panics on any input: every failure is a [`DecodeError`]
//! that already knows its NOTIFICATION and RFC 7606 action.
//!
//! Decoding depends on what the session negotiated (4-octet AS, extended message, add-path),
//! passed in explicitly as [`SessionParams`]. UPDATEs are decoded in place ([`Update`]): one
//! validating pass, then borrowed iterators, so a full table decodes without allocating per
//! message.

#[macro_use]
mod code_point;

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
pub mod update;

pub use capability::{AfiSafi, Capability};
pub use header::{frame, Frame, MessageType};
pub use notification::{DecodeError, ErrorAction, Notification};
pub use open::Open;
pub use route_refresh::RouteRefresh;
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
    let Some(f) = frame(buf, p.max_message_len())? else {
        return Err(DecodeError::reset(
            notification::code::MESSAGE_HEADER,
            notification::header::BAD_MESSAGE_LENGTH,
            header::length_field(buf).map(Vec::from).unwrap_or_default(),
            format!("truncated: {} octets present", buf.len()),
        ));
    };
    let whole = &buf[..f.len];
    Ok((decode_frame(f, whole, p)?, f.len))
}

/// Decodes a message that [`frame`] has delimited (`whole` = header + body).
#[inline(always)]
pub fn decode_frame<'a>(f: Frame, whole: &'a [u8], p: &SessionParams) -> Result<Message<'a>, DecodeError> {
    let body = whole.get(header::HEADER_LEN..).unwrap_or_default();
    Ok(match f.msg_type {
        MessageType::Open => Message::Open(Open::decode(body)?),
        MessageType::Update => {
            let mut u = Box::<Update<'a>>::default();
            u.decode_into(body, p)?;
            Message::Update(u)
        }
        MessageType::Notification => {
            // RFC 4271 §4.5: code, subcode, data; the frame guarantees 2 octets.
            let (c, s, data) = match body {
                [c, s, data @ ..] => (*c, *s, data.to_vec()),
                _ => (0, 0, Vec::new()),
            };
            Message::Notification(Notification::new(c, s, data))
        }
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
    digits
        .chunks_exact(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16);
            Some((v(p[0])? * 16 + v(p[1])?) as u8)
        })
        .collect()
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
