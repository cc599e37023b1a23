//! BFD Control packet codec (RFC 5880 §4.1–4.4): bytes ⇄ [`ControlPacket`], with the
//! authentication section parsed into [`AuthSection`]. Owns the receive checks of §6.8.6 that
//! are about the packet alone; each failure is a named [`Drop`] reason the caller counts.
//! Verifying an authentication section (keys, sequence numbers) is `auth.rs`'s job, session
//! selection and state are `session.rs`'s; this file has no state and no I/O.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |   (only with A)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// The protocol version this codec speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
/// Octets of the mandatory part of a Control packet.
pub const HEADER_LEN: usize = 24;
/// Longest simple password (RFC 5880 §4.2).
pub const MAX_PASSWORD_LEN: usize = 16;
/// Auth Len of a keyed / meticulous keyed MD5 section (§4.3).
pub const MD5_AUTH_LEN: u8 = 24;
/// Auth Len of a keyed / meticulous keyed SHA1 section (§4.4).
pub const SHA1_AUTH_LEN: u8 = 28;

code_points! {
    /// Session state as carried in the Sta field (RFC 5880 §4.1, §6.2).
    #[derive(serde::Serialize)]
    pub enum State, closed {
        AdminDown = 0, "AdminDown";
        Down = 1, "Down";
        Init = 2, "Init";
        Up = 3, "Up";
    }
}

impl State {
    /// The two-bit value; the codec masks it, so every value maps (all four are in the list).
    pub const fn from_bits(v: u8) -> Self {
        match State::from_u8(v & 3) {
            Some(s) => s,
            None => State::AdminDown,
        }
    }
}

code_points! {
    /// Diagnostic code (RFC 5880 §4.1): why the sender's session last left Up. Codes 9–31 are
    /// reserved for future use and kept as `Unknown` so they round-trip.
    #[derive(serde::Serialize)]
    pub enum Diag, consts diag_code, unknown "Reserved" {
        None = 0, NONE, "No Diagnostic";
        ControlDetectionTimeExpired = 1, CONTROL_DETECTION_TIME_EXPIRED, "Control Detection Time Expired";
        EchoFunctionFailed = 2, ECHO_FUNCTION_FAILED, "Echo Function Failed";
        NeighborSignaledSessionDown = 3, NEIGHBOR_SIGNALED_SESSION_DOWN, "Neighbor Signaled Session Down";
        ForwardingPlaneReset = 4, FORWARDING_PLANE_RESET, "Forwarding Plane Reset";
        PathDown = 5, PATH_DOWN, "Path Down";
        ConcatenatedPathDown = 6, CONCATENATED_PATH_DOWN, "Concatenated Path Down";
        AdministrativelyDown = 7, ADMINISTRATIVELY_DOWN, "Administratively Down";
        ReverseConcatenatedPathDown = 8, REVERSE_CONCATENATED_PATH_DOWN, "Reverse Concatenated Path Down";
    }
}

impl Diag {
    /// The five-bit value; the codec masks it, so every value maps.
    pub const fn from_bits(v: u8) -> Self {
        Diag::from_code(v & 0x1f)
    }
}

code_points! {
    /// Authentication type (RFC 5880 §4.1 Auth Type); `from_u8` is `None` for 0 (reserved) and
    /// 6–255. The names are the configuration spelling (issue 11): `simple`, `keyed-md5`, ….
    #[derive(serde::Serialize)]
    pub enum AuthType, closed {
        SimplePassword = 1, "simple";
        KeyedMd5 = 2, "keyed-md5";
        MeticulousKeyedMd5 = 3, "meticulous-keyed-md5";
        KeyedSha1 = 4, "keyed-sha1";
        MeticulousKeyedSha1 = 5, "meticulous-keyed-sha1";
    }
}

impl AuthType {
    /// Whether the sequence number must strictly increase on every packet (§6.7.3, §6.7.4).
    pub const fn meticulous(self) -> bool {
        matches!(self, AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1)
    }
}

/// The authentication section of a Control packet (RFC 5880 §4.2–4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthSection {
    /// §4.2: the password in clear, 1–16 octets.
    SimplePassword { key_id: u8, password: Vec<u8> },
    /// §4.3 (Auth Type 2 or 3) and §4.4 (4 or 5): a sequence number and a digest of 16 (MD5)
    /// or 20 (SHA1) octets. The Reserved octet is sent as zero and ignored on receipt.
    Digest { auth_type: AuthType, key_id: u8, seq: u32, digest: Vec<u8> },
}

impl AuthSection {
    /// The Auth Type of this section.
    pub fn auth_type(&self) -> AuthType {
        match self {
            AuthSection::SimplePassword { .. } => AuthType::SimplePassword,
            AuthSection::Digest { auth_type, .. } => *auth_type,
        }
    }

    /// The Auth Key ID.
    pub fn key_id(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { key_id, .. } | AuthSection::Digest { key_id, .. } => *key_id,
        }
    }

    /// The Auth Len this section has on the wire, `None` when it cannot be encoded (password
    /// of 0 or more than 16 octets, digest of the wrong size for its type).
    pub fn wire_len(&self) -> Option<u8> {
        match self {
            AuthSection::SimplePassword { password, .. } => {
                if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
                    return None;
                }
                u8::try_from(password.len()).ok()?.checked_add(3)
            }
            AuthSection::Digest { auth_type, digest, .. } => {
                let (len, size) = match auth_type {
                    AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => (MD5_AUTH_LEN, 16),
                    AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => (SHA1_AUTH_LEN, 20),
                    AuthType::SimplePassword => return None,
                };
                (digest.len() == size).then_some(len)
            }
        }
    }
}

/// A BFD Control packet, every field of RFC 5880 §4.1. The Length field is not stored: it
/// is derived from the authentication section when encoding (24 + Auth Len), and checked
/// against the payload when decoding. Intervals are in microseconds, as on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    /// Always [`VERSION`] for a decoded packet.
    pub version: u8,
    pub diag: Diag,
    pub state: State,
    /// P: Poll.
    pub poll: bool,
    /// F: Final.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub cpi: bool,
    /// D: Demand.
    pub demand: bool,
    /// M: Multipoint; always false for a decoded packet (§6.8.6).
    pub multipoint: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx: u32,
    pub required_min_rx: u32,
    pub required_min_echo_rx: u32,
    /// Present iff the A bit is set.
    pub auth: Option<AuthSection>,
}

/// Why a received packet was discarded: one named, countable reason per check of RFC 5880
/// §6.8.6 and §6.7. The codec returns the packet-level ones, [`crate::bfd::auth`] and
/// [`crate::bfd::Bfd`] the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Drop {
    /// Fewer than 24 octets of payload.
    Truncated,
    /// Version ≠ 1.
    BadVersion,
    /// Length < 24 (A clear) or < 26 (A set).
    LengthTooShort,
    /// Length > the payload of the datagram.
    LengthExceedsPayload,
    /// Detect Mult is zero.
    DetectMultZero,
    /// The M bit is set.
    MultipointSet,
    /// My Discriminator is zero.
    MyDiscriminatorZero,
    /// Your Discriminator is zero and State is neither Down nor AdminDown.
    YourDiscriminatorZero,
    /// Your Discriminator names no session of ours.
    UnknownYourDiscriminator,
    /// A bit set, but we use no authentication.
    AuthUnexpected,
    /// A bit clear, but we use authentication.
    AuthMissing,
    /// Auth Type 0 or 6–255.
    UnknownAuthType,
    /// Auth Len wrong for the Auth Type, or beyond Length.
    BadAuthLen,
    /// Auth Type differs from ours (§6.7.2–6.7.4).
    AuthTypeMismatch,
    /// Auth Key ID is not the one we hold.
    KeyIdMismatch,
    /// Simple password differs (§6.7.2).
    BadPassword,
    /// MD5 / SHA1 digest differs (§6.7.3, §6.7.4).
    BadDigest,
    /// Sequence number outside the accepted window (replay, or too far ahead).
    SequenceOutOfWindow,
}

impl Drop {
    /// A reason of the authentication checks (§6.7): the keys, types or sequence numbers of
    /// the two ends disagree.
    pub const fn is_auth(self) -> bool {
        matches!(
            self,
            Drop::AuthUnexpected
                | Drop::AuthMissing
                | Drop::AuthTypeMismatch
                | Drop::KeyIdMismatch
                | Drop::BadPassword
                | Drop::BadDigest
                | Drop::SequenceOutOfWindow
        )
    }

    /// Every reason, in check order: for status counters.
    pub const ALL: &'static [Drop] = &[
        Drop::Truncated,
        Drop::BadVersion,
        Drop::LengthTooShort,
        Drop::LengthExceedsPayload,
        Drop::DetectMultZero,
        Drop::MultipointSet,
        Drop::MyDiscriminatorZero,
        Drop::YourDiscriminatorZero,
        Drop::UnknownYourDiscriminator,
        Drop::AuthUnexpected,
        Drop::AuthMissing,
        Drop::UnknownAuthType,
        Drop::BadAuthLen,
        Drop::AuthTypeMismatch,
        Drop::KeyIdMismatch,
        Drop::BadPassword,
        Drop::BadDigest,
        Drop::SequenceOutOfWindow,
    ];

    /// A stable snake_case name for status and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Drop::Truncated => "truncated",
            Drop::BadVersion => "bad_version",
            Drop::LengthTooShort => "length_too_short",
            Drop::LengthExceedsPayload => "length_exceeds_payload",
            Drop::DetectMultZero => "detect_mult_zero",
            Drop::MultipointSet => "multipoint_set",
            Drop::MyDiscriminatorZero => "my_discriminator_zero",
            Drop::YourDiscriminatorZero => "your_discriminator_zero",
            Drop::UnknownYourDiscriminator => "unknown_your_discriminator",
            Drop::AuthUnexpected => "auth_unexpected",
            Drop::AuthMissing => "auth_missing",
            Drop::UnknownAuthType => "unknown_auth_type",
            Drop::BadAuthLen => "bad_auth_len",
            Drop::AuthTypeMismatch => "auth_type_mismatch",
            Drop::KeyIdMismatch => "key_id_mismatch",
            Drop::BadPassword => "bad_password",
            Drop::BadDigest => "bad_digest",
            Drop::SequenceOutOfWindow => "sequence_out_of_window",
        }
    }
}

/// A packet that cannot be put on the wire: its authentication section is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the BFD authentication section cannot be encoded (password of 1-16 octets, digest of 16/20)")]
pub struct EncodeError;

fn be32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = at.checked_add(4).and_then(|end| b.get(at..end)) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

/// Decodes one Control packet from a UDP payload, applying the packet-level checks of RFC
/// 5880 §6.8.6 in the RFC's order, then the structure of the authentication section (§4.2–4.4).
/// Session selection (Your Discriminator lookup) and authentication are the caller's.
pub fn decode(payload: &[u8]) -> Result<ControlPacket, Drop> {
    let Some(h) = payload.first_chunk::<HEADER_LEN>() else {
        return Err(Drop::Truncated);
    };
    let [b0, b1, detect_mult, length, ..] = *h;
    let version = b0 >> 5;
    let flags = b1;
    let auth_bit = flags & 0x04 != 0;
    if version != VERSION {
        return Err(Drop::BadVersion);
    }
    let length = usize::from(length);
    if length < if auth_bit { HEADER_LEN.saturating_add(2) } else { HEADER_LEN } {
        return Err(Drop::LengthTooShort);
    }
    if length > payload.len() {
        return Err(Drop::LengthExceedsPayload);
    }
    if detect_mult == 0 {
        return Err(Drop::DetectMultZero);
    }
    let multipoint = flags & 0x01 != 0;
    if multipoint {
        return Err(Drop::MultipointSet);
    }
    let my_discriminator = be32(h, 4);
    if my_discriminator == 0 {
        return Err(Drop::MyDiscriminatorZero);
    }
    let your_discriminator = be32(h, 8);
    let state = State::from_bits(flags >> 6);
    if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
        return Err(Drop::YourDiscriminatorZero);
    }
    let auth = if auth_bit {
        let section = payload.get(HEADER_LEN..length).unwrap_or_default();
        Some(decode_auth(section)?)
    } else {
        None
    };
    Ok(ControlPacket {
        version,
        diag: Diag::from_bits(b0),
        state,
        poll: flags & 0x20 != 0,
        final_: flags & 0x10 != 0,
        cpi: flags & 0x08 != 0,
        demand: flags & 0x02 != 0,
        multipoint,
        detect_mult,
        my_discriminator,
        your_discriminator,
        desired_min_tx: be32(h, 12),
        required_min_rx: be32(h, 16),
        required_min_echo_rx: be32(h, 20),
        auth,
    })
}

/// The authentication section: `s` is everything between the header and Length.
fn decode_auth(s: &[u8]) -> Result<AuthSection, Drop> {
    let Some(&[t, len, key_id]) = s.first_chunk::<3>() else {
        return Err(Drop::BadAuthLen);
    };
    let auth_type = AuthType::from_u8(t).ok_or(Drop::UnknownAuthType)?;
    let body = s.get(..usize::from(len)).ok_or(Drop::BadAuthLen)?;
    match auth_type {
        AuthType::SimplePassword => {
            // §6.7.2: Auth Len 4..=19 (a password of 1–16 octets).
            let password = body.get(3..).unwrap_or_default();
            if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
                return Err(Drop::BadAuthLen);
            }
            Ok(AuthSection::SimplePassword { key_id, password: password.to_vec() })
        }
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 | AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            let want = if matches!(auth_type, AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5) {
                MD5_AUTH_LEN
            } else {
                SHA1_AUTH_LEN
            };
            if len != want {
                return Err(Drop::BadAuthLen);
            }
            Ok(AuthSection::Digest {
                auth_type,
                key_id,
                seq: be32(body, 4),
                digest: body.get(8..).unwrap_or_default().to_vec(),
            })
        }
    }
}

impl ControlPacket {
    /// The exact octets of this packet, Length = 24 + Auth Len. Version, Diag and State are
    /// masked to their field widths.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let auth_len = match &self.auth {
            Some(a) => a.wire_len().ok_or(EncodeError)?,
            None => 0,
        };
        let length = u8::try_from(HEADER_LEN).map_err(|_| EncodeError)?.checked_add(auth_len).ok_or(EncodeError)?;
        let mut b = Vec::with_capacity(usize::from(length));
        b.push(((self.version & 7) << 5) | (self.diag.code() & 0x1f));
        let bit = |on: bool, v: u8| if on { v } else { 0 };
        b.push(
            ((self.state as u8) << 6)
                | bit(self.poll, 0x20)
                | bit(self.final_, 0x10)
                | bit(self.cpi, 0x08)
                | bit(self.auth.is_some(), 0x04)
                | bit(self.demand, 0x02)
                | bit(self.multipoint, 0x01),
        );
        b.push(self.detect_mult);
        b.push(length);
        for v in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        match &self.auth {
            None => {}
            Some(AuthSection::SimplePassword { key_id, password }) => {
                b.extend_from_slice(&[AuthType::SimplePassword.code(), auth_len, *key_id]);
                b.extend_from_slice(password);
            }
            Some(AuthSection::Digest { auth_type, key_id, seq, digest }) => {
                b.extend_from_slice(&[auth_type.code(), auth_len, *key_id, 0]);
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(digest);
            }
        }
        Ok(b)
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
