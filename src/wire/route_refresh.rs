//! ROUTE-REFRESH messages (RFC 2918 §3) with the enhanced route refresh subtypes (RFC 7313 §3).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtyp| SAFI  |
//! +-------+-------+-------+-------+
//! ```
//! Octets after the fixed part are ORF entries (RFC 5291), kept raw: anycastd does not use them.

use super::header::{put_header, MessageType};
use super::notification::{code, route_refresh as sub, DecodeError};
use super::EncodeError;
use bytes::BufMut;

/// Subtypes (RFC 7313 §3).
pub const SUBTYPE_NORMAL: u8 = 0;
pub const SUBTYPE_BORR: u8 = 1;
pub const SUBTYPE_EORR: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub subtype: u8,
    pub safi: u8,
    /// ORF entries (RFC 5291), only with subtype 0.
    pub orf: Vec<u8>,
}

impl RouteRefresh {
    pub fn new(afi: u16, safi: u8) -> Self {
        RouteRefresh { afi, subtype: SUBTYPE_NORMAL, safi, orf: Vec::new() }
    }

    /// `body` is the message after the header; `whole` the complete message (the NOTIFICATION
    /// Data of RFC 7313 §5).
    pub fn decode(body: &[u8], whole: &[u8]) -> Result<Self, DecodeError> {
        let Some(([a0, a1, subtype, safi], rest)) = body.split_first_chunk::<4>().map(|(h, r)| (*h, r)) else {
            return Err(DecodeError::reset(
                code::MESSAGE_HEADER,
                super::notification::header::BAD_MESSAGE_LENGTH,
                Vec::new(),
                "ROUTE-REFRESH shorter than 23 octets",
            ));
        };
        // RFC 7313 §5: BoRR/EoRR must be exactly 4 octets after the header. Reserved subtypes
        // are left to the receiver to ignore, whatever their length.
        if matches!(subtype, SUBTYPE_BORR | SUBTYPE_EORR) && !rest.is_empty() {
            return Err(DecodeError::reset(
                code::ROUTE_REFRESH,
                sub::INVALID_MESSAGE_LENGTH,
                whole.to_vec(),
                format!("subtype {subtype} with {} extra octets", rest.len()),
            ));
        }
        Ok(RouteRefresh { afi: u16::from_be_bytes([a0, a1]), subtype, safi, orf: rest.to_vec() })
    }

    pub fn subtype_name(&self) -> &'static str {
        match self.subtype {
            SUBTYPE_NORMAL => "normal route-refresh",
            SUBTYPE_BORR => "demarcation of the beginning of a route refresh (BoRR)",
            SUBTYPE_EORR => "demarcation of the ending of a route refresh (EoRR)",
            _ => "reserved",
        }
    }

    /// Append the message, header included. Fails, writing nothing, when the ORF entries would
    /// not fit one message's 2-octet Length field.
    pub fn try_encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        put_header(buf, MessageType::RouteRefresh, self.orf.len().saturating_add(4))?;
        buf.put_u16(self.afi);
        buf.put_u8(self.subtype);
        buf.put_u8(self.safi);
        buf.put_slice(&self.orf);
        Ok(())
    }

    /// [`RouteRefresh::try_encode`] for the messages a speaker sends (no ORF entries, so they
    /// always fit). A message whose ORF entries do not fit is not written at all, never cut:
    /// callers that may carry ORF entries use `try_encode`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let _ = self.try_encode(buf);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_length_rule() {
        let mut b = Vec::new();
        RouteRefresh::new(2, 1).encode(&mut b);
        assert_eq!(b.len(), 23);
        assert_eq!(RouteRefresh::decode(&b[19..], &b).unwrap(), RouteRefresh::new(2, 1));
        let body = [0, 1, 1, 1, 9];
        let e = RouteRefresh::decode(&body, &body).unwrap_err();
        assert_eq!((e.code(), e.subcode()), (7, 1));
        assert_eq!(RouteRefresh::decode(&[0, 1, 0, 1, 9], &[]).unwrap().orf, vec![9]);
        let e = RouteRefresh::decode(&[0, 1, 2, 1, 9], &[]).unwrap_err();
        assert_eq!((e.code(), e.subcode()), (7, 1));
        // RFC 7313 §5: "a Message Subtype field other than 0, 1, or 2 ... MUST ignore": no error.
        assert_eq!(RouteRefresh::decode(&[0, 1, 3, 1, 9], &[]).unwrap().subtype, 3);
        // ORF entries that would overflow the Length field: an error, nothing written.
        let mut b = Vec::new();
        let big = RouteRefresh { orf: vec![0; 65535], ..RouteRefresh::new(1, 1) };
        assert!(big.try_encode(&mut b).is_err());
        big.encode(&mut b);
        assert!(b.is_empty());
    }
}
