//! NOTIFICATION messages (RFC 4271 §4.5) and the error vocabulary of the whole codec.
//!
//! Every decode failure in `wire/` is a [`DecodeError`], which already carries the exact
//! [`Notification`] (code, subcode, data) that RFC 4271 §6 prescribes and the RFC 7606 action
//! ([`ErrorAction`]) a speaker must take. The code and subcode numbers live in one table
//! ([`ERROR_TABLE`]) of named constants, tested against RFC 4271 §4.5, RFC 4486, RFC 6608,
//! RFC 7313, RFC 8538 and RFC 9384. Shutdown communications (RFC 8203 / RFC 9003) are built and
//! parsed here. This module owns no I/O and never panics on input.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::text::PeerText;
use bytes::BufMut;
use std::fmt;

/// Error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// Message Header Error subcodes (RFC 4271 §6.1).
pub mod header {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2).
pub mod open {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Finite State Machine Error subcodes (RFC 6608 §3).
pub mod fsm {
    pub const UNSPECIFIED: u8 = 0;
    pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486 §4, RFC 8538 §5, RFC 9384 §5).
pub mod cease {
    pub const MAX_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh {
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// Every code/subcode this codec knows, with its RFC name. Subcode 0 rows name the code itself.
pub const ERROR_TABLE: &[(u8, u8, &str)] = &[
    (code::MESSAGE_HEADER, 0, "Message Header Error"),
    (code::MESSAGE_HEADER, header::CONNECTION_NOT_SYNCHRONIZED, "Connection Not Synchronized"),
    (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH, "Bad Message Length"),
    (code::MESSAGE_HEADER, header::BAD_MESSAGE_TYPE, "Bad Message Type"),
    (code::OPEN_MESSAGE, 0, "OPEN Message Error"),
    (code::OPEN_MESSAGE, open::UNSUPPORTED_VERSION_NUMBER, "Unsupported Version Number"),
    (code::OPEN_MESSAGE, open::BAD_PEER_AS, "Bad Peer AS"),
    (code::OPEN_MESSAGE, open::BAD_BGP_IDENTIFIER, "Bad BGP Identifier"),
    (code::OPEN_MESSAGE, open::UNSUPPORTED_OPTIONAL_PARAMETER, "Unsupported Optional Parameter"),
    (code::OPEN_MESSAGE, open::UNACCEPTABLE_HOLD_TIME, "Unacceptable Hold Time"),
    (code::OPEN_MESSAGE, open::UNSUPPORTED_CAPABILITY, "Unsupported Capability"),
    (code::OPEN_MESSAGE, open::ROLE_MISMATCH, "Role Mismatch"),
    (code::UPDATE_MESSAGE, 0, "UPDATE Message Error"),
    (code::UPDATE_MESSAGE, update::MALFORMED_ATTRIBUTE_LIST, "Malformed Attribute List"),
    (code::UPDATE_MESSAGE, update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, "Unrecognized Well-known Attribute"),
    (code::UPDATE_MESSAGE, update::MISSING_WELL_KNOWN_ATTRIBUTE, "Missing Well-known Attribute"),
    (code::UPDATE_MESSAGE, update::ATTRIBUTE_FLAGS_ERROR, "Attribute Flags Error"),
    (code::UPDATE_MESSAGE, update::ATTRIBUTE_LENGTH_ERROR, "Attribute Length Error"),
    (code::UPDATE_MESSAGE, update::INVALID_ORIGIN_ATTRIBUTE, "Invalid ORIGIN Attribute"),
    (code::UPDATE_MESSAGE, update::INVALID_NEXT_HOP_ATTRIBUTE, "Invalid NEXT_HOP Attribute"),
    (code::UPDATE_MESSAGE, update::OPTIONAL_ATTRIBUTE_ERROR, "Optional Attribute Error"),
    (code::UPDATE_MESSAGE, update::INVALID_NETWORK_FIELD, "Invalid Network Field"),
    (code::UPDATE_MESSAGE, update::MALFORMED_AS_PATH, "Malformed AS_PATH"),
    (code::HOLD_TIMER_EXPIRED, 0, "Hold Timer Expired"),
    (code::FSM, fsm::UNSPECIFIED, "Finite State Machine Error"),
    (code::FSM, fsm::UNEXPECTED_IN_OPENSENT, "Receive Unexpected Message in OpenSent State"),
    (code::FSM, fsm::UNEXPECTED_IN_OPENCONFIRM, "Receive Unexpected Message in OpenConfirm State"),
    (code::FSM, fsm::UNEXPECTED_IN_ESTABLISHED, "Receive Unexpected Message in Established State"),
    (code::CEASE, 0, "Cease"),
    (code::CEASE, cease::MAX_PREFIXES_REACHED, "Maximum Number of Prefixes Reached"),
    (code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN, "Administrative Shutdown"),
    (code::CEASE, cease::PEER_DECONFIGURED, "Peer De-configured"),
    (code::CEASE, cease::ADMINISTRATIVE_RESET, "Administrative Reset"),
    (code::CEASE, cease::CONNECTION_REJECTED, "Connection Rejected"),
    (code::CEASE, cease::OTHER_CONFIGURATION_CHANGE, "Other Configuration Change"),
    (code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION, "Connection Collision Resolution"),
    (code::CEASE, cease::OUT_OF_RESOURCES, "Out of Resources"),
    (code::CEASE, cease::HARD_RESET, "Hard Reset"),
    (code::CEASE, cease::BFD_DOWN, "BFD Down"),
    (code::ROUTE_REFRESH, 0, "ROUTE-REFRESH Message Error"),
    (code::ROUTE_REFRESH, route_refresh::INVALID_MESSAGE_LENGTH, "Invalid Message Length"),
];

/// The RFC name of an error code ("Cease"), or `None` for a code this codec does not know.
pub fn code_name(code: u8) -> Option<&'static str> {
    ERROR_TABLE.iter().find(|(c, s, _)| *c == code && *s == 0).map(|(_, _, n)| *n)
}

/// The RFC name of a subcode ("Administrative Shutdown"), or `None` when unknown.
pub fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    if subcode == 0 && code != self::code::FSM {
        return None;
    }
    ERROR_TABLE.iter().find(|(c, s, _)| *c == code && *s == subcode).map(|(_, _, n)| *n)
}

/// What RFC 7606 §2 tells a receiver to do about a malformed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// Discard the malformed attribute, keep processing the UPDATE (RFC 7606 §2).
    AttributeDiscard,
    /// Treat every route of the UPDATE as withdrawn, keep the session (RFC 7606 §2).
    TreatAsWithdraw,
    /// Send the NOTIFICATION and close the session (RFC 4271 §6).
    SessionReset,
}

impl ErrorAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorAction::AttributeDiscard => "attribute-discard",
            ErrorAction::TreatAsWithdraw => "treat-as-withdraw",
            ErrorAction::SessionReset => "session-reset",
        }
    }
}

/// A NOTIFICATION message: the error a speaker reports before it closes a session.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// Longest shutdown communication, in octets (RFC 9003 §2).
pub const SHUTDOWN_COMMUNICATION_MAX: usize = 255;

/// A decoded RFC 8203/9003 shutdown communication.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ShutdownCommunication {
    /// The text, escaped as it is decoded ([`PeerText`]): never a raw control character.
    pub text: PeerText,
    /// Octets after the communication (RFC 9003 §2 allows none; tcpdump shows them as Data).
    pub trailing: Vec<u8>,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Notification { code, subcode, data: data.into() }
    }

    /// Cease with an RFC 9003 shutdown communication (only meaningful for subcodes 2 and 4).
    /// The text is cut at a character boundary to at most 255 octets.
    pub fn cease_with_message(subcode: u8, text: &str) -> Self {
        let mut end = text.len().min(SHUTDOWN_COMMUNICATION_MAX);
        while !text.is_char_boundary(end) {
            // Stops at 0 at the latest: 0 is always a boundary.
            end = end.saturating_sub(1);
        }
        let bytes = text.as_bytes().get(..end).unwrap_or_default();
        // `end` ≤ 255: the length octet always holds it.
        let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
        let mut data = Vec::with_capacity(bytes.len().saturating_add(1));
        data.push(len);
        data.extend_from_slice(bytes);
        Notification::new(code::CEASE, subcode, data)
    }

    /// Decodes a NOTIFICATION (`whole` = header + `body`; RFC 4271 §4.5: Error code, Error
    /// subcode, Data). The framer refuses one shorter than 21 octets; should a shorter body
    /// come here all the same, it is that Bad Message Length (Data: the length field).
    pub fn decode(body: &[u8], whole: &[u8]) -> Result<Notification, DecodeError> {
        let [c, s, data @ ..] = body else {
            return Err(DecodeError::reset(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_LENGTH,
                super::header::length_field(whole).map(Vec::from).unwrap_or_default(),
                "NOTIFICATION shorter than 21 octets",
            ));
        };
        Ok(Notification::new(*c, *s, data))
    }

    pub fn code_name(&self) -> Option<&'static str> {
        code_name(self.code)
    }

    pub fn subcode_name(&self) -> Option<&'static str> {
        subcode_name(self.code, self.subcode)
    }

    /// A Cease an operator's action sends (RFC 4486 §4: Administrative Shutdown, Peer
    /// De-configured, Administrative Reset, Other Configuration Change): news, not a fault.
    pub fn is_operator_cease(&self) -> bool {
        self.code == code::CEASE
            && matches!(
                self.subcode,
                cease::ADMINISTRATIVE_SHUTDOWN
                    | cease::PEER_DECONFIGURED
                    | cease::ADMINISTRATIVE_RESET
                    | cease::OTHER_CONFIGURATION_CHANGE
            )
    }

    /// The shutdown communication carried by a Cease/Administrative Shutdown or Reset
    /// (RFC 9003 §2). `None` when this NOTIFICATION cannot carry one or carries no data;
    /// `Some(Err(declared_len))` when the length octet overruns the data.
    pub fn shutdown_communication(&self) -> Option<Result<ShutdownCommunication, u8>> {
        let carries = self.code == code::CEASE
            && (self.subcode == cease::ADMINISTRATIVE_SHUTDOWN || self.subcode == cease::ADMINISTRATIVE_RESET);
        let (&len, rest) = self.data.split_first()?;
        if !carries {
            return None;
        }
        match rest.get(..usize::from(len)) {
            Some(text) => Some(Ok(ShutdownCommunication {
                text: PeerText::from_bytes(text),
                trailing: rest.get(usize::from(len)..).unwrap_or_default().to_vec(),
            })),
            None => Some(Err(len)),
        }
    }

    /// Encoded length of the whole message (header included).
    pub fn encoded_len(&self) -> usize {
        self.data.len().saturating_add(super::header::HEADER_LEN + 2)
    }

    /// Append the NOTIFICATION, header included. Data that would not fit a 4096-octet message
    /// is cut, as RFC 4271 §4.5 sizes the message by its header (the one deliberate cut of the
    /// codec: a NOTIFICATION must still go out).
    pub fn encode(&self, buf: &mut impl BufMut) {
        let max_data = super::header::MAX_MESSAGE_LEN - super::header::HEADER_LEN - 2;
        let data = self.data.get(..max_data).unwrap_or(&self.data);
        // At most 4096 octets: the header always holds the length.
        let body_len = data.len().saturating_add(2);
        if super::header::put_header(buf, super::header::MessageType::Notification, body_len).is_ok() {
            buf.put_u8(self.code);
            buf.put_u8(self.subcode);
            buf.put_slice(data);
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code_name() {
            Some(n) => write!(f, "{n} ({})", self.code)?,
            None => write!(f, "code {}", self.code)?,
        }
        match self.subcode_name() {
            Some(n) => write!(f, " / {n} ({})", self.subcode)?,
            None => write!(f, " / subcode {}", self.subcode)?,
        }
        match self.shutdown_communication() {
            Some(Ok(sc)) if !sc.text.is_empty() => write!(f, ": \"{}\"", sc.text),
            _ if !self.data.is_empty() => write!(f, ", data {}", super::hex(&self.data)),
            _ => Ok(()),
        }
    }
}

/// A message that could not be accepted: the NOTIFICATION it triggers, what RFC 7606 says to do,
/// and a reason for humans.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DecodeError {
    pub notification: Notification,
    pub action: ErrorAction,
    pub reason: String,
}

impl DecodeError {
    pub fn new(
        code: u8,
        subcode: u8,
        data: impl Into<Vec<u8>>,
        action: ErrorAction,
        reason: impl Into<String>,
    ) -> Self {
        DecodeError { notification: Notification::new(code, subcode, data), action, reason: reason.into() }
    }

    /// A session-reset error with the given code and subcode.
    #[cold]
    pub fn reset(code: u8, subcode: u8, data: impl Into<Vec<u8>>, reason: impl Into<String>) -> Self {
        Self::new(code, subcode, data, ErrorAction::SessionReset, reason)
    }

    pub fn code(&self) -> u8 {
        self.notification.code
    }

    pub fn subcode(&self) -> u8 {
        self.notification.subcode
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.notification, self.action.as_str(), self.reason)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_rfcs() {
        // RFC 4271 §4.5 codes; RFC 7313 §5 adds 7.
        assert_eq!(code_name(1), Some("Message Header Error"));
        assert_eq!(code_name(3), Some("UPDATE Message Error"));
        assert_eq!(code_name(6), Some("Cease"));
        assert_eq!(code_name(7), Some("ROUTE-REFRESH Message Error"));
        assert_eq!(code_name(8), None);
        // RFC 4271 §6.3: subcode 7 is deprecated and 11 is Malformed AS_PATH.
        assert_eq!(subcode_name(3, 7), None);
        assert_eq!(subcode_name(3, 11), Some("Malformed AS_PATH"));
        // RFC 4486 §4 / RFC 9384: Cease subcodes 1..=10.
        for s in 1..=10 {
            assert!(subcode_name(6, s).is_some(), "cease subcode {s}");
        }
        assert_eq!(subcode_name(6, 10), Some("BFD Down"));
        // RFC 6608: FSM subcode 0 is Unspecified Error, 1..=3 per state.
        assert_eq!(subcode_name(5, 2), Some("Receive Unexpected Message in OpenConfirm State"));
        // No duplicates in the table.
        for (i, a) in ERROR_TABLE.iter().enumerate() {
            for b in &ERROR_TABLE[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "duplicate {:?}", a);
            }
        }
    }

    #[test]
    fn shutdown_communication_round_trip_and_limits() {
        let n = Notification::cease_with_message(cease::ADMINISTRATIVE_SHUTDOWN, "maintenance");
        assert_eq!(n.data[0], 11);
        let sc = n.shutdown_communication().unwrap().unwrap();
        assert_eq!(sc.text, "maintenance");
        assert!(sc.trailing.is_empty());
        // Cut at 255 octets on a character boundary.
        let long = "é".repeat(200); // 400 octets
        let n = Notification::cease_with_message(cease::ADMINISTRATIVE_RESET, &long);
        assert_eq!(usize::from(n.data[0]), 254);
        assert_eq!(n.data.len(), 255);
        // Overrunning length octet.
        let n = Notification::new(code::CEASE, cease::ADMINISTRATIVE_RESET, b"\x40abc".to_vec());
        assert_eq!(n.shutdown_communication(), Some(Err(64)));
        // Other subcodes carry none.
        let n = Notification::new(code::CEASE, cease::PEER_DECONFIGURED, b"\x01a".to_vec());
        assert_eq!(n.shutdown_communication(), None);
    }

    #[test]
    fn operator_ceases_are_the_four_of_rfc_4486_section_4() {
        let yes: Vec<u8> =
            (0..=10).filter(|&s| Notification::new(code::CEASE, s, vec![]).is_operator_cease()).collect();
        assert_eq!(yes, [2, 3, 4, 6]);
        assert!(!Notification::new(code::HOLD_TIMER_EXPIRED, 0, vec![]).is_operator_cease());
    }

    #[test]
    fn display_is_readable() {
        let n = Notification::cease_with_message(cease::ADMINISTRATIVE_SHUTDOWN, "bye");
        assert_eq!(n.to_string(), "Cease (6) / Administrative Shutdown (2): \"bye\"");
        // Peer text is escaped once, at decode; Display adds no second layer.
        let n = Notification::new(code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN, b"\x06a\nb\x1b\"\xff".to_vec());
        assert_eq!(n.to_string(), r#"Cease (6) / Administrative Shutdown (2): "a\nb\x1b\"\xff""#);
        assert_eq!(n.shutdown_communication().unwrap().unwrap().text.as_bytes(), b"a\nb\x1b\"\xff");
        let n = Notification::new(code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH, vec![0, 5]);
        assert_eq!(n.to_string(), "Message Header Error (1) / Bad Message Length (2), data 0005");
    }
}
