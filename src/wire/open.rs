//! OPEN messages (RFC 4271 §4.2) with optional parameters (RFC 5492) in the classic and the
//! RFC 9072 extended layout, and the checks of RFC 4271 §6.2 that need no configuration.
//! Checks that do (peer AS, our own identifier) belong to `session/`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! RFC 9072: Opt Parm Len 255 followed by a parameter type of 255 means a 2-octet extended
//! length follows and every parameter then has a 2-octet length.

use super::capability::{self, AfiSafi, Capability};
use super::header::{put_header, MessageType, HEADER_LEN, MAX_MESSAGE_LEN};
use super::notification::{code, open as sub, DecodeError};
use super::{reader, EncodeError};
use crate::types::HoldTime;
use bytes::BufMut;
use std::net::Ipv4Addr;

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;
/// Optional parameter type: Capabilities (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 marker type.
pub const PARAM_EXTENDED_LENGTH: u8 = 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS when the real AS needs 4 octets).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
    /// Number of capabilities in each Capabilities optional parameter, in order, so a decoded
    /// OPEN re-encodes to the same octets. Empty: all capabilities in one parameter.
    pub param_layout: Vec<usize>,
    /// Whether the optional parameters use the RFC 9072 extended layout.
    pub extended_params: bool,
}

impl Open {
    /// An OPEN for our side: version 4, AS_TRANS in My AS when `asn` needs 4 octets.
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        Open { version: 4, my_as, hold_time, bgp_id, capabilities, param_layout: Vec::new(), extended_params: false }
    }

    /// The sender's AS: the 4-octet AS capability when present (RFC 6793 §3), else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    pub fn has(&self, code_: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code_)
    }

    /// Families offered with the Multiprotocol capability. RFC 4760 §8: a speaker that sends
    /// none is taken to support IPv4 unicast only.
    pub fn families(&self) -> Vec<AfiSafi> {
        let v: Vec<AfiSafi> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(a) => Some(*a),
                _ => None,
            })
            .collect();
        if v.is_empty() && !self.capabilities.iter().any(|c| matches!(c, Capability::Multiprotocol(_))) {
            vec![AfiSafi::IPV4_UNICAST]
        } else {
            v
        }
    }

    /// Decode an OPEN body (the octets after the header) and apply the RFC 4271 §6.2 checks that
    /// need no configuration.
    pub fn decode(body: &[u8]) -> Result<Open, DecodeError> {
        let unspecific =
            |why: &str| DecodeError::reset(code::OPEN_MESSAGE, sub::UNSPECIFIC, Vec::new(), why.to_string());
        let fixed = |i| -> reader::R<'_, (u8, u16, u16, Ipv4Addr, u8)> {
            let (i, version) = reader::u8(i)?;
            let (i, my_as) = reader::u16(i)?;
            let (i, hold) = reader::u16(i)?;
            let (i, id) = reader::ipv4(i)?;
            let (i, opt_len) = reader::u8(i)?;
            Ok((i, (version, my_as, hold, id, opt_len)))
        };
        let (rest, (version, my_as, hold_time, bgp_id, opt_len)) = fixed(body).map_err(|_| {
            DecodeError::reset(
                code::MESSAGE_HEADER,
                super::notification::header::BAD_MESSAGE_LENGTH,
                Vec::new(),
                "OPEN shorter than 29 octets",
            )
        })?;
        // RFC 4271 §6.2: version first, data = the largest version we support (2 octets).
        if version != 4 {
            return Err(DecodeError::reset(
                code::OPEN_MESSAGE,
                sub::UNSUPPORTED_VERSION_NUMBER,
                vec![0, 4],
                format!("version {version} is not 4"),
            ));
        }
        let mut open = Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities: Vec::new(),
            param_layout: Vec::new(),
            extended_params: false,
        };
        // RFC 9072 §2: Non-Ext OP Len 255 and Non-Ext OP Type 255 select the extended layout.
        let extended = opt_len == 255 && rest.first() == Some(&PARAM_EXTENDED_LENGTH);
        let params = if extended {
            let (i, _) = reader::u8(rest).map_err(|_| unspecific("truncated RFC 9072 header"))?;
            let (i, ext_len) = reader::u16(i).map_err(|_| unspecific("truncated RFC 9072 header"))?;
            if i.len() != usize::from(ext_len) {
                return Err(unspecific(&format!(
                    "extended optional parameters length {ext_len} does not match the {} octets present",
                    i.len()
                )));
            }
            open.extended_params = true;
            i
        } else {
            if rest.len() != usize::from(opt_len) {
                return Err(unspecific(&format!(
                    "optional parameters length {opt_len} does not match the {} octets present",
                    rest.len()
                )));
            }
            rest
        };
        let mut p = params;
        while !p.is_empty() {
            let one = |i| -> reader::R<'_, (u8, &[u8])> {
                let (i, ty) = reader::u8(i)?;
                let (i, len) =
                    if extended { reader::u16(i)? } else { reader::u8(i).map(|(i, l)| (i, u16::from(l)))? };
                let (i, v) = reader::bytes(i, usize::from(len))?;
                Ok((i, (ty, v)))
            };
            let (next, (ty, v)) = one(p).map_err(|_| unspecific("optional parameter overruns the OPEN"))?;
            if ty != PARAM_CAPABILITIES {
                // RFC 4271 §6.2 / RFC 5492 §5: Unsupported Optional Parameter, no data.
                return Err(DecodeError::reset(
                    code::OPEN_MESSAGE,
                    sub::UNSUPPORTED_OPTIONAL_PARAMETER,
                    Vec::new(),
                    format!("optional parameter type {ty} is not Capabilities (2)"),
                ));
            }
            let before = open.capabilities.len();
            capability::decode_list(v, &mut open.capabilities)?;
            open.param_layout.push(open.capabilities.len().saturating_sub(before));
            p = next;
        }
        open.check()?;
        Ok(open)
    }

    /// RFC 4271 §6.2 checks that need no configuration (RFC 7607 for AS 0, RFC 6286 and §6.2 for
    /// the identifier).
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.my_as == 0 || self.four_octet_as() == Some(0) {
            return Err(DecodeError::reset(code::OPEN_MESSAGE, sub::BAD_PEER_AS, Vec::new(), "peer AS 0 (RFC 7607)"));
        }
        // RFC 4271 §6.2: "An implementation MUST reject Hold Time values of one or two seconds."
        if let Err(e) = HoldTime::new(self.hold_time) {
            return Err(DecodeError::reset(
                code::OPEN_MESSAGE,
                sub::UNACCEPTABLE_HOLD_TIME,
                Vec::new(),
                format!("hold time {} s: {e}", self.hold_time),
            ));
        }
        let id = self.bgp_id;
        if id.is_unspecified() || id.is_multicast() || id.is_broadcast() {
            return Err(DecodeError::reset(
                code::OPEN_MESSAGE,
                sub::BAD_BGP_IDENTIFIER,
                Vec::new(),
                format!("BGP identifier {id} is not a valid unicast address"),
            ));
        }
        Ok(())
    }

    fn layout(&self) -> Vec<usize> {
        if self.param_layout.iter().sum::<usize>() == self.capabilities.len() && !self.param_layout.is_empty() {
            self.param_layout.clone()
        } else if self.capabilities.is_empty() {
            Vec::new()
        } else {
            vec![self.capabilities.len()]
        }
    }

    /// Append the OPEN, header included. Fails, writing nothing, only when a parameter cannot
    /// be expressed (a capability value over 255 octets, a parameter over 255 octets without the
    /// extended layout, or a message over 4096 octets).
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let too_long = |what, len, max| EncodeError::TooLong { what, len, max };
        let mut params = Vec::new();
        let mut caps = self.capabilities.iter();
        for n in self.layout() {
            let mut value = Vec::new();
            for c in caps.by_ref().take(n) {
                c.encode(&mut value)?;
            }
            params.push(PARAM_CAPABILITIES);
            if self.extended_params {
                let len = u16::try_from(value.len())
                    .map_err(|_| too_long("capabilities parameter", value.len(), MAX_MESSAGE_LEN))?;
                params.put_u16(len);
            } else {
                // RFC 9072 lifts this limit; without it a parameter length is one octet.
                let len = u8::try_from(value.len())
                    .map_err(|_| too_long("capabilities parameter (without RFC 9072)", value.len(), 255))?;
                params.push(len);
            }
            params.extend_from_slice(&value);
        }
        // Version, My AS, Hold Time, BGP Identifier (9), then 1 or (RFC 9072) 4 length octets.
        let fixed = if self.extended_params { 9 + 4 } else { 9 + 1 };
        let body_len = params.len().saturating_add(fixed);
        let len = body_len.saturating_add(HEADER_LEN);
        if len > MAX_MESSAGE_LEN {
            return Err(too_long("OPEN", len, MAX_MESSAGE_LEN));
        }
        let params_len =
            u16::try_from(params.len()).map_err(|_| too_long("optional parameters", params.len(), 4096))?;
        let short_len = u8::try_from(params.len());
        if !self.extended_params && short_len.is_err() {
            return Err(too_long("optional parameters (without RFC 9072)", params.len(), 255));
        }
        put_header(buf, MessageType::Open, body_len)?;
        buf.put_u8(self.version);
        buf.put_u16(self.my_as);
        buf.put_u16(self.hold_time);
        buf.put_slice(&self.bgp_id.octets());
        match short_len {
            Ok(len) if !self.extended_params => buf.put_u8(len),
            _ => {
                // RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, then a 2-octet length.
                buf.put_u8(255);
                buf.put_u8(PARAM_EXTENDED_LENGTH);
                buf.put_u16(params_len);
            }
        }
        buf.put_slice(&params);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ours() -> Open {
        Open::new(
            4_200_000_124,
            9,
            Ipv4Addr::new(198, 51, 100, 124),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(4_200_000_124),
            ],
        )
    }

    fn body(open: &Open) -> Vec<u8> {
        let mut b = Vec::new();
        open.encode(&mut b).unwrap();
        b[HEADER_LEN..].to_vec()
    }

    #[test]
    fn round_trip_and_as_trans() {
        let o = ours();
        assert_eq!(o.my_as, AS_TRANS);
        let mut d = Open::decode(&body(&o)).unwrap();
        assert_eq!(d.asn(), 4_200_000_124);
        d.param_layout.clear();
        assert_eq!(d, o);
        let mut e = o.clone();
        e.extended_params = true;
        let mut d = Open::decode(&body(&e)).unwrap();
        assert!(d.extended_params);
        d.param_layout.clear();
        assert_eq!(d, e);
    }

    fn err_of(b: &[u8]) -> (u8, u8, Vec<u8>) {
        let e = Open::decode(b).unwrap_err();
        (e.code(), e.subcode(), e.notification.data)
    }

    #[test]
    fn rfc4271_6_2_checks() {
        let good = body(&ours());
        let mut b = good.clone();
        b[0] = 3;
        assert_eq!(err_of(&b), (2, 1, vec![0, 4]));
        let mut b = good.clone();
        b[3..5].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(err_of(&b), (2, 6, vec![]));
        let mut b = good.clone();
        b[5..9].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(err_of(&b), (2, 3, vec![]));
        let mut b = good.clone();
        b[5..9].copy_from_slice(&[224, 0, 0, 5]);
        assert_eq!(err_of(&b), (2, 3, vec![]));
        let mut b = good.clone();
        b[1..3].copy_from_slice(&[0, 0]);
        let mut o = ours();
        o.capabilities.pop();
        o.my_as = 0;
        assert_eq!(err_of(&body(&o)), (2, 2, vec![]));
        // Unsupported optional parameter (type 1, deprecated authentication).
        let mut b = good[..9].to_vec();
        b.extend_from_slice(&[3, 1, 1, 0]);
        assert_eq!(err_of(&b), (2, 4, vec![]));
        // Parameter length overrun and length mismatch.
        let mut b = good[..9].to_vec();
        b.extend_from_slice(&[3, 2, 5, 0]);
        assert_eq!(err_of(&b).0, 2);
        let mut b = good.clone();
        b[9] += 1;
        assert_eq!(err_of(&b), (2, 0, vec![]));
        // Too short for the fixed part.
        assert_eq!(err_of(&good[..5]).0, 1);
    }

    #[test]
    fn no_multiprotocol_means_ipv4_unicast() {
        let o = Open::new(65000, 90, Ipv4Addr::new(192, 0, 2, 1), vec![Capability::RouteRefresh]);
        assert_eq!(o.families(), vec![AfiSafi::IPV4_UNICAST]);
        assert_eq!(ours().families(), vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
    }
}
