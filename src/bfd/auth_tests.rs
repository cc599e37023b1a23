use super::*;
use crate::bfd::packet::decode;
use crate::bfd::testkit::up_packet;

fn state(t: AuthType, key: &[u8], seq: u32) -> AuthState {
    AuthState::new(AuthConfig::new(t, 5, key.to_vec()).unwrap(), seq)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap(), 16).unwrap()).collect()
}

/// Produced once with python3 hashlib (independent of md-5/sha1): the header above, Auth
/// Key ID 5, sequence 0x11223344, key "secret" zero-padded to 16 (MD5) / 20 (SHA1) octets
/// in the digest field, digest = hashlib.md5/sha1(packet).digest() written in its place.
const VECTORS: [(AuthType, &str); 4] = [
    (
        AuthType::KeyedMd5,
        "20c40330010203040a0b0c0d0000c3500000c350000000000218050011223344ed72f38b624733b928065679746fce99",
    ),
    (
        AuthType::MeticulousKeyedMd5,
        "20c40330010203040a0b0c0d0000c3500000c3500000000003180500112233442acb9fa525f726a882284fe8f686adc9",
    ),
    (
        AuthType::KeyedSha1,
        "20c40334010203040a0b0c0d0000c3500000c35000000000041c050011223344e2176b9f201a25f89a9d7d75862d8cd2fe25d9a9",
    ),
    (
        AuthType::MeticulousKeyedSha1,
        "20c40334010203040a0b0c0d0000c3500000c35000000000051c050011223344d1b904bc7c9d646ff9b5c96525191fceed55bddd",
    ),
];

#[test]
fn signing_matches_an_independent_computation() {
    for (t, want) in VECTORS {
        let mut a = state(t, b"secret", 0x1122_3344);
        let mut p = up_packet();
        assert_eq!(a.sign(&mut p).unwrap(), hex(want), "{t:?}");
        let mut b = state(t, b"secret", 0);
        assert_eq!(b.verify(&hex(want), &decode(&hex(want)).unwrap()), Ok(()), "{t:?}");
        assert!(b.seq_known());
        assert_eq!(b.rcv_seq(), 0x1122_3344);
    }
}

fn signed(tx: &mut AuthState) -> (Vec<u8>, ControlPacket) {
    let mut p = up_packet();
    let b = tx.sign(&mut p).unwrap();
    let d = decode(&b).unwrap();
    assert_eq!(d, p);
    (b, d)
}

const ALL: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

#[test]
fn every_type_signs_and_verifies() {
    for t in ALL {
        let mut tx = state(t, b"k3y", 7);
        let mut rx = state(t, b"k3y", 0);
        for _ in 0..5 {
            let (b, p) = signed(&mut tx);
            assert_eq!(rx.verify(&b, &p), Ok(()), "{t:?}");
        }
    }
}

#[test]
fn wrong_key_is_dropped() {
    for t in ALL {
        let (b, p) = signed(&mut state(t, b"right", 7));
        let want = if t == AuthType::SimplePassword { Drop::BadPassword } else { Drop::BadDigest };
        let mut rx = state(t, b"wrong", 0);
        assert_eq!(rx.verify(&b, &p), Err(want), "{t:?}");
        assert!(!rx.seq_known(), "a bad packet must not set the sequence");
        // A key that is a prefix of the right one.
        assert_eq!(state(t, b"righ", 0).verify(&b, &p), Err(want), "{t:?}");
    }
}

#[test]
fn wrong_key_id_and_type_are_dropped() {
    for t in ALL {
        let (b, p) = signed(&mut state(t, b"k", 7));
        let mut other_id = AuthState::new(AuthConfig::new(t, 6, b"k".to_vec()).unwrap(), 0);
        assert_eq!(other_id.verify(&b, &p), Err(Drop::KeyIdMismatch));
        for u in ALL.into_iter().filter(|u| *u != t) {
            assert_eq!(state(u, b"k", 0).verify(&b, &p), Err(Drop::AuthTypeMismatch), "{t:?} vs {u:?}");
        }
    }
}

#[test]
fn a_tampered_packet_is_dropped() {
    let mut tx = state(AuthType::KeyedSha1, b"k", 7);
    let (mut b, _) = signed(&mut tx);
    *b.get_mut(14).unwrap() ^= 1; // Desired Min TX
    let p = decode(&b).unwrap();
    assert_eq!(state(AuthType::KeyedSha1, b"k", 0).verify(&b, &p), Err(Drop::BadDigest));
}

/// Packets signed with sequence numbers `seqs`, then verified in that order by one receiver.
fn run(t: AuthType, seqs: &[u32]) -> Vec<Result<(), Drop>> {
    let mut rx = state(t, b"k", 0);
    seqs.iter()
        .map(|&s| {
            let (b, p) = signed(&mut state(t, b"k", s));
            rx.verify(&b, &p)
        })
        .collect()
}

#[test]
fn meticulous_refuses_replay_and_old_sequence_numbers() {
    for t in [AuthType::MeticulousKeyedMd5, AuthType::MeticulousKeyedSha1] {
        let w = Err(Drop::SequenceOutOfWindow);
        assert_eq!(run(t, &[100, 100]), [Ok(()), w]);
        assert_eq!(run(t, &[100, 99]), [Ok(()), w]);
        // Detect Mult 3: up to 9 ahead.
        assert_eq!(run(t, &[100, 109]), [Ok(()), Ok(())]);
        assert_eq!(run(t, &[100, 110]), [Ok(()), w]);
        // Circular.
        assert_eq!(run(t, &[u32::MAX, 3]), [Ok(()), Ok(())]);
    }
}

#[test]
fn keyed_accepts_the_same_sequence_within_the_window() {
    for t in [AuthType::KeyedMd5, AuthType::KeyedSha1] {
        let w = Err(Drop::SequenceOutOfWindow);
        assert_eq!(run(t, &[100, 100, 100]), [Ok(()), Ok(()), Ok(())]);
        assert_eq!(run(t, &[100, 99]), [Ok(()), w]);
        assert_eq!(run(t, &[100, 109]), [Ok(()), Ok(())]);
        assert_eq!(run(t, &[100, 110]), [Ok(()), w]);
        assert_eq!(run(t, &[u32::MAX - 1, 7]), [Ok(()), Ok(())]);
    }
}

#[test]
fn the_first_packet_sets_the_sequence_and_forgetting_reopens_it() {
    let t = AuthType::MeticulousKeyedMd5;
    let mut rx = state(t, b"k", 0);
    let (b, p) = signed(&mut state(t, b"k", 5000));
    assert_eq!(rx.verify(&b, &p), Ok(()));
    let (b, p) = signed(&mut state(t, b"k", 10));
    assert_eq!(rx.verify(&b, &p), Err(Drop::SequenceOutOfWindow));
    rx.forget_seq();
    assert_eq!(rx.verify(&b, &p), Ok(()));
    assert_eq!(rx.rcv_seq(), 10);
}

#[test]
fn sign_advances_the_sequence_every_up_packet() {
    let mut tx = state(AuthType::KeyedMd5, b"k", u32::MAX);
    let seqs: Vec<u32> = (0..3)
        .map(|_| match signed(&mut tx).1.auth {
            Some(AuthSection::Digest { seq, .. }) => seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [u32::MAX, 0, 1]);
}

#[test]
fn key_lengths_and_redaction() {
    assert_eq!(AuthConfig::new(AuthType::KeyedMd5, 1, vec![]), Err(AuthConfigError::EmptyKey));
    assert!(AuthConfig::new(AuthType::KeyedMd5, 1, vec![1; 16]).is_ok());
    assert!(AuthConfig::new(AuthType::KeyedMd5, 1, vec![1; 17]).is_err());
    assert!(AuthConfig::new(AuthType::SimplePassword, 1, vec![1; 17]).is_err());
    assert!(AuthConfig::new(AuthType::KeyedSha1, 1, vec![1; 20]).is_ok());
    assert!(AuthConfig::new(AuthType::MeticulousKeyedSha1, 1, vec![1; 21]).is_err());
    let s = state(AuthType::KeyedSha1, b"hunter2", 0);
    assert!(!format!("{s:?}").contains("hunter2"));
    assert!(!format!("{s:?}").contains("104, 117"));
}

#[test]
fn constant_time_compare() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(ct_eq(b"", b""));
}
