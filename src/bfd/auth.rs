//! BFD authentication (RFC 5880 §6.7): simple password (§6.7.2), keyed and meticulous keyed
//! MD5 (§6.7.3) and SHA1 (§6.7.4). [`AuthState`] signs outgoing packets and verifies received
//! ones, holding the sequence-number variables of §6.8.1 (bfd.XmitAuthSeq, bfd.RcvAuthSeq,
//! bfd.AuthSeqKnown). Keys never appear in `Debug` output. Digests are compared in constant
//! time. No I/O and no clock: when to forget bfd.AuthSeqKnown is the session's decision.

use std::fmt;

use md5::{Digest as _, Md5};
use sha1::Sha1;

use super::packet::{AuthSection, AuthType, ControlPacket, Drop, EncodeError, HEADER_LEN};

/// Octets of the digest section before the digest: type, len, key id, reserved, sequence.
const DIGEST_OFFSET: usize = 8;

/// A BFD authentication key or password: 1–16 octets (password, MD5) or 1–20 (SHA1).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(Vec<u8>);

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthKey(<redacted>)")
    }
}

/// What an [`AuthConfig`] refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("the BFD key is empty")]
    EmptyKey,
    #[error("the BFD key is {len} octets; {auth} allows at most {max}")]
    KeyTooLong { len: usize, max: usize, auth: &'static str },
}

/// The authentication a session uses: type, Key ID and key (one key per session; RFC 5880
/// allows several, the configuration of issue 11 has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    auth_type: AuthType,
    key_id: u8,
    key: AuthKey,
}

impl AuthConfig {
    /// Checks the key length for the type: a password or MD5 key of 1–16 octets (§4.2, §4.3:
    /// the key is padded to 16), a SHA1 key of 1–20 (§4.4: padded to 20).
    pub fn new(auth_type: AuthType, key_id: u8, key: impl Into<Vec<u8>>) -> Result<Self, AuthConfigError> {
        let key = key.into();
        let max = Self::max_key_len(auth_type);
        if key.is_empty() {
            return Err(AuthConfigError::EmptyKey);
        }
        if key.len() > max {
            return Err(AuthConfigError::KeyTooLong { len: key.len(), max, auth: auth_type.name() });
        }
        Ok(AuthConfig { auth_type, key_id, key: AuthKey(key) })
    }

    /// The longest key `auth_type` carries.
    pub const fn max_key_len(auth_type: AuthType) -> usize {
        match auth_type {
            AuthType::SimplePassword | AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 16,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
        }
    }

    /// bfd.AuthType.
    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// The Auth Key ID sent and required.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }
}

/// The authentication variables of one session (RFC 5880 §6.8.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthState {
    config: AuthConfig,
    /// bfd.XmitAuthSeq: the next sequence number we send.
    xmit_seq: u32,
    /// bfd.RcvAuthSeq.
    rcv_seq: u32,
    /// bfd.AuthSeqKnown.
    seq_known: bool,
}

impl AuthState {
    /// `initial_seq` is bfd.XmitAuthSeq's starting value; §6.8.1 wants it random, the caller
    /// supplies it (from the OS at session creation, fixed in tests).
    pub fn new(config: AuthConfig, initial_seq: u32) -> Self {
        AuthState { config, xmit_seq: initial_seq, rcv_seq: 0, seq_known: false }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// bfd.AuthSeqKnown.
    pub fn seq_known(&self) -> bool {
        self.seq_known
    }

    /// bfd.RcvAuthSeq, meaningful while [`AuthState::seq_known`].
    pub fn rcv_seq(&self) -> u32 {
        self.rcv_seq
    }

    /// Forgets the remote sequence number: §6.8.1, after no packet for twice the Detection
    /// Time (the session calls this).
    pub fn forget_seq(&mut self) {
        self.seq_known = false;
    }

    /// Adds our authentication section to `packet` and returns its signed octets. The
    /// sequence number advances on every packet, which meticulous types require and keyed
    /// types allow (§6.7.3: "MAY be incremented").
    pub fn sign(&mut self, packet: &mut ControlPacket) -> Result<Vec<u8>, EncodeError> {
        let key_id = self.config.key_id;
        let auth_type = self.config.auth_type;
        let key = &self.config.key.0;
        if auth_type == AuthType::SimplePassword {
            packet.auth = Some(AuthSection::SimplePassword { key_id, password: key.clone() });
            return packet.encode();
        }
        let seq = self.xmit_seq;
        self.xmit_seq = seq.wrapping_add(1);
        // §6.7.3 / §6.7.4 Transmission: the digest is computed over the packet with the key
        // (zero-padded to the digest's size) in the digest field.
        let size = digest_size(auth_type);
        let mut keyed = key.clone();
        keyed.resize(size, 0);
        packet.auth = Some(AuthSection::Digest { auth_type, key_id, seq, digest: keyed });
        let mut bytes = packet.encode()?;
        let digest = compute(auth_type, &bytes);
        if let Some(slot) = bytes.get_mut(HEADER_LEN.saturating_add(DIGEST_OFFSET)..) {
            slot.copy_from_slice(&digest);
        }
        packet.auth = Some(AuthSection::Digest { auth_type, key_id, seq, digest });
        Ok(bytes)
    }

    /// Verifies a received packet that carries the A bit (`raw`: the octets it was decoded
    /// from), in the order of §6.7.2–6.7.4 Reception: type, Key ID, sequence window, password
    /// or digest. On success bfd.RcvAuthSeq takes the packet's sequence number and
    /// bfd.AuthSeqKnown becomes 1. The window is [RcvAuthSeq, RcvAuthSeq + 3 × Detect Mult]
    /// for keyed types and (RcvAuthSeq, RcvAuthSeq + 3 × Detect Mult] for meticulous ones,
    /// circular, with the packet's Detect Mult.
    pub fn verify(&mut self, raw: &[u8], packet: &ControlPacket) -> Result<(), Drop> {
        let Some(section) = &packet.auth else {
            return Err(Drop::AuthMissing);
        };
        if section.auth_type() != self.config.auth_type {
            return Err(Drop::AuthTypeMismatch);
        }
        if section.key_id() != self.config.key_id {
            return Err(Drop::KeyIdMismatch);
        }
        match section {
            AuthSection::SimplePassword { password, .. } => {
                if ct_eq(password, &self.config.key.0) {
                    Ok(())
                } else {
                    Err(Drop::BadPassword)
                }
            }
            AuthSection::Digest { auth_type, seq, digest, .. } => {
                if self.seq_known && !self.in_window(*seq, *auth_type, packet.detect_mult) {
                    return Err(Drop::SequenceOutOfWindow);
                }
                let size = digest_size(*auth_type);
                let end = HEADER_LEN.saturating_add(DIGEST_OFFSET).saturating_add(size);
                let mut bytes = raw.get(..end).ok_or(Drop::BadAuthLen)?.to_vec();
                let mut keyed = self.config.key.0.clone();
                keyed.resize(size, 0);
                if let Some(slot) = bytes.get_mut(HEADER_LEN.saturating_add(DIGEST_OFFSET)..) {
                    slot.copy_from_slice(&keyed);
                }
                if !ct_eq(&compute(*auth_type, &bytes), digest) {
                    return Err(Drop::BadDigest);
                }
                self.rcv_seq = *seq;
                self.seq_known = true;
                Ok(())
            }
        }
    }

    fn in_window(&self, seq: u32, auth_type: AuthType, detect_mult: u8) -> bool {
        let ahead = seq.wrapping_sub(self.rcv_seq);
        let width = u32::from(detect_mult).saturating_mul(3);
        let lowest = u32::from(auth_type.meticulous());
        (lowest..=width).contains(&ahead)
    }
}

fn digest_size(auth_type: AuthType) -> usize {
    match auth_type {
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
        _ => 16,
    }
}

fn compute(auth_type: AuthType, bytes: &[u8]) -> Vec<u8> {
    match auth_type {
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => Sha1::digest(bytes).to_vec(),
        _ => Md5::digest(bytes).to_vec(),
    }
}

/// Equality whose time depends on the lengths only, not on where the octets differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
