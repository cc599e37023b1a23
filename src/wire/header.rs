//! The BGP message header (RFC 4271 §4.1) and the framer that cuts a byte stream into messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker (16 octets of 0xff)          |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The framer checks the header as soon as 19 octets are there, before it waits for a body, so a
//! peer that sends a bad length is answered at once instead of stalling the session (§6.1).

use super::notification::{code, header as sub, DecodeError};
use super::EncodeError;
use bytes::BufMut;

pub const MARKER: [u8; 16] = [0xff; 16];
pub const HEADER_LEN: usize = 19;
/// Largest message without the Extended Message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with the Extended Message capability (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

code_points! {
    /// Message types (RFC 4271 §4.1, RFC 2918 §3).
    pub enum MessageType, closed {
        Open = 1, "OPEN";
        Update = 2, "UPDATE";
        Notification = 3, "NOTIFICATION";
        Keepalive = 4, "KEEPALIVE";
        RouteRefresh = 5, "ROUTE_REFRESH";
    }
}

impl MessageType {
    /// Smallest valid length of this message type (RFC 4271 §4.2–4.4, RFC 2918 §3).
    pub fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => 19,
            MessageType::RouteRefresh => 23,
        }
    }

    /// Largest valid length of this message type: `max_len` (4096, or 65535 with Extended
    /// Message), except OPEN (4096, RFC 8654 §4) and KEEPALIVE (exactly 19, RFC 4271 §4.4).
    #[inline]
    pub fn max_len(self, max_len: usize) -> usize {
        match self {
            MessageType::Open => MAX_MESSAGE_LEN,
            MessageType::Keepalive => HEADER_LEN,
            _ => max_len,
        }
    }
}

/// The Length field of the header at the start of `buf` (octets 16–17, RFC 4271 §4.1), as it
/// stands on the wire: the Data of a Bad Message Length NOTIFICATION. `None` before 18 octets.
#[inline]
pub fn length_field(buf: &[u8]) -> Option<[u8; 2]> {
    let (_marker, rest) = buf.split_first_chunk::<16>()?;
    rest.first_chunk::<2>().copied()
}

/// The message length the header at the start of `buf` declares (header included), unchecked:
/// [`frame`] says whether it is valid. `None` before 18 octets.
#[inline]
pub fn declared_len(buf: &[u8]) -> Option<usize> {
    length_field(buf).map(|l| usize::from(u16::from_be_bytes(l)))
}

/// One complete message found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: MessageType,
    /// Length of the whole message, header included.
    pub len: usize,
}

/// Looks at the start of `buf`: `Ok(None)` while fewer than a header's worth of octets, or fewer
/// than the announced length, are there; `Ok(Some(frame))` when a whole message is; `Err` with
/// the Message Header Error NOTIFICATION of RFC 4271 §6.1 as soon as the header is wrong.
/// `max_len` is 4096, or 65535 once Extended Message is negotiated (OPEN and KEEPALIVE always
/// stay within 4096, RFC 8654 §4).
#[inline]
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<Frame>, DecodeError> {
    let Some((&[ref marker @ .., l0, l1, ty], _)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    // The valid header in a few compares; `header_error` says what is wrong with any other.
    if let (true, Some(msg_type)) = (*marker == MARKER, MessageType::from_u8(ty)) {
        if len >= msg_type.min_len() && len <= msg_type.max_len(max_len) {
            if buf.len() < len {
                return Ok(None);
            }
            return Ok(Some(Frame { msg_type, len }));
        }
    }
    Err(header_error(marker, [l0, l1], ty, max_len))
}

/// The NOTIFICATION for a header that [`frame`] refused, checked in the order of RFC 4271 §6.1.
#[cold]
#[inline(never)]
fn header_error(marker: &[u8], len_field: [u8; 2], ty: u8, max_len: usize) -> DecodeError {
    if *marker != MARKER {
        // RFC 4271 §6.1: Connection Not Synchronized; the Data field is empty.
        return DecodeError::reset(
            code::MESSAGE_HEADER,
            sub::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
            "marker is not all ones",
        );
    }
    let len = usize::from(u16::from_be_bytes(len_field));
    let bad_len = |why: String| {
        // RFC 4271 §6.1: Bad Message Length, the Data field holds the erroneous Length field.
        DecodeError::reset(code::MESSAGE_HEADER, sub::BAD_MESSAGE_LENGTH, len_field.to_vec(), why)
    };
    let Some(msg_type) = MessageType::from_u8(ty) else {
        if len < HEADER_LEN {
            return bad_len(format!("length {len} is shorter than the 19-octet header"));
        }
        // RFC 4271 §6.1: Bad Message Type, the Data field holds the erroneous Type field.
        return DecodeError::reset(
            code::MESSAGE_HEADER,
            sub::BAD_MESSAGE_TYPE,
            vec![ty],
            format!("unknown message type {ty}"),
        );
    };
    let limit = match msg_type {
        MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
        _ => max_len,
    };
    if len < msg_type.min_len() || len > limit {
        return bad_len(format!("{} length {len} outside {}..={limit}", msg_type.name(), msg_type.min_len()));
    }
    bad_len(format!("KEEPALIVE length {len} is not 19"))
}

/// Append a header for a message whose body is `body_len` octets. Fails, writing nothing, when
/// the message would not fit the 2-octet Length field; callers check their negotiated maximum
/// (4096 or 65535) first.
pub fn put_header(buf: &mut impl BufMut, msg_type: MessageType, body_len: usize) -> Result<(), EncodeError> {
    let len = HEADER_LEN.saturating_add(body_len);
    let len = u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what: msg_type.name(),
        len,
        max: MAX_EXTENDED_MESSAGE_LEN,
    })?;
    buf.put_slice(&MARKER);
    buf.put_u16(len);
    buf.put_u8(msg_type as u8);
    Ok(())
}

/// A whole KEEPALIVE (RFC 4271 §4.4): a header alone, 19 octets.
#[rustfmt::skip]
pub const KEEPALIVE: [u8; HEADER_LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 19, MessageType::Keepalive as u8,
];

/// Append a KEEPALIVE (RFC 4271 §4.4).
pub fn encode_keepalive(buf: &mut impl BufMut) {
    buf.put_slice(&KEEPALIVE);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hdr(len: u16, ty: u8) -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v
    }

    #[test]
    fn waits_for_header_and_body() {
        assert_eq!(frame(&hdr(19, 4)[..18], 4096), Ok(None));
        let mut b = hdr(23, 2);
        assert_eq!(frame(&b, 4096), Ok(None));
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(frame(&b, 4096), Ok(Some(Frame { msg_type: MessageType::Update, len: 23 })));
    }

    #[test]
    fn bad_marker() {
        let mut b = hdr(19, 4);
        b[3] = 0;
        let e = frame(&b, 4096).unwrap_err();
        assert_eq!((e.code(), e.subcode()), (1, 1));
        assert!(e.notification.data.is_empty());
    }

    #[test]
    fn bad_length_checked_before_body_arrives() {
        for (len, ty) in [(18u16, 4u8), (4097, 2), (20, 4), (28, 1), (22, 2), (20, 3), (22, 5), (5000, 1)] {
            let e = frame(&hdr(len, ty), 4096).unwrap_err();
            assert_eq!((e.code(), e.subcode()), (1, 2), "len {len} type {ty}");
            assert_eq!(e.notification.data, len.to_be_bytes().to_vec());
        }
        // Extended message raises the limit for UPDATE, not for OPEN.
        assert_eq!(frame(&hdr(5000, 2), 65535), Ok(None));
        assert!(frame(&hdr(5000, 1), 65535).is_err());
    }

    #[test]
    fn bad_type() {
        let e = frame(&hdr(19, 9), 4096).unwrap_err();
        assert_eq!((e.code(), e.subcode(), e.notification.data.clone()), (1, 3, vec![9]));
    }

    #[test]
    fn length_field_and_declared_len() {
        let b = hdr(4096, 2);
        assert_eq!(length_field(&b), Some([0x10, 0]));
        assert_eq!(declared_len(&b), Some(4096));
        assert_eq!(declared_len(&b[..18]), Some(4096));
        assert_eq!(declared_len(&b[..17]), None);
        assert_eq!(declared_len(&[]), None);
    }

    #[test]
    fn keepalive_encodes_to_19_octets() {
        let mut b = Vec::new();
        encode_keepalive(&mut b);
        assert_eq!(b, hdr(19, 4));
        let mut h = Vec::new();
        put_header(&mut h, MessageType::Keepalive, 0).unwrap();
        assert_eq!(h, b);
    }

    #[test]
    fn put_header_refuses_a_length_the_field_cannot_hold() {
        let mut b = Vec::new();
        put_header(&mut b, MessageType::Update, 65535 - 19).unwrap();
        assert_eq!(b, hdr(65535, 2));
        let mut b = Vec::new();
        let e = put_header(&mut b, MessageType::Update, 65535 - 18).unwrap_err();
        assert_eq!(e, EncodeError::TooLong { what: "UPDATE", len: 65536, max: 65535 });
        assert!(b.is_empty(), "nothing written on error");
    }
}
