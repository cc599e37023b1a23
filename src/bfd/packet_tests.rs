use super::*;
use crate::bfd::testkit::up_packet;
use proptest::prelude::*;

fn bytes(p: &ControlPacket) -> Vec<u8> {
    p.encode().unwrap()
}

#[test]
fn exact_bytes_of_an_up_packet() {
    let mut p = up_packet();
    p.poll = true;
    p.diag = Diag::ControlDetectionTimeExpired;
    assert_eq!(
        bytes(&p),
        [0x21, 0xe0, 3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0xc3, 0x50, 0, 0, 0xc3, 0x50, 0, 0, 0, 0]
    );
    assert_eq!(decode(&bytes(&p)).unwrap(), p);
}

#[test]
fn exact_bytes_with_auth_sections() {
    let mut p = up_packet();
    p.auth = Some(AuthSection::SimplePassword { key_id: 7, password: b"abc".to_vec() });
    let b = bytes(&p);
    assert_eq!(b.len(), 30);
    assert_eq!(b.get(3), Some(&30));
    assert_eq!(b.get(1), Some(&0xc4));
    assert_eq!(b.get(24..), Some(&[1, 6, 7, b'a', b'b', b'c'][..]));
    assert_eq!(decode(&b).unwrap(), p);
    p.auth = Some(AuthSection::Digest {
        auth_type: AuthType::MeticulousKeyedSha1,
        key_id: 2,
        seq: 0x1122_3344,
        digest: vec![0xee; 20],
    });
    let b = bytes(&p);
    assert_eq!(b.len(), 52);
    assert_eq!(b.get(24..32), Some(&[5, 28, 2, 0, 0x11, 0x22, 0x33, 0x44][..]));
    assert_eq!(decode(&b).unwrap(), p);
}

#[test]
fn trailing_octets_beyond_length_are_ignored() {
    let mut b = bytes(&up_packet());
    b.extend_from_slice(&[9, 9, 9]);
    assert_eq!(decode(&b).unwrap(), up_packet());
}

#[test]
fn encode_refuses_unrepresentable_auth() {
    let mut p = up_packet();
    p.auth = Some(AuthSection::SimplePassword { key_id: 1, password: vec![] });
    assert_eq!(p.encode(), Err(EncodeError));
    p.auth = Some(AuthSection::SimplePassword { key_id: 1, password: vec![1; 17] });
    assert_eq!(p.encode(), Err(EncodeError));
    p.auth = Some(AuthSection::Digest { auth_type: AuthType::KeyedMd5, key_id: 1, seq: 0, digest: vec![0; 20] });
    assert_eq!(p.encode(), Err(EncodeError));
}

fn with(f: impl FnOnce(&mut Vec<u8>)) -> Result<ControlPacket, Drop> {
    let mut b = bytes(&up_packet());
    f(&mut b);
    decode(&b)
}

fn set(b: &mut [u8], at: usize, v: u8) {
    *b.get_mut(at).unwrap() = v;
}

#[test]
fn drop_truncated() {
    assert_eq!(decode(&[0x20; 23]), Err(Drop::Truncated));
    assert_eq!(decode(&[]), Err(Drop::Truncated));
}

#[test]
fn drop_bad_version() {
    assert_eq!(with(|b| set(b, 0, 0x40)), Err(Drop::BadVersion));
    assert_eq!(with(|b| set(b, 0, 0x00)), Err(Drop::BadVersion));
}

#[test]
fn drop_length_too_short() {
    assert_eq!(with(|b| set(b, 3, 23)), Err(Drop::LengthTooShort));
    // A set: 26 is the minimum.
    assert_eq!(
        with(|b| {
            set(b, 1, 0xc4);
            set(b, 3, 25);
            b.extend_from_slice(&[1, 4]);
        }),
        Err(Drop::LengthTooShort)
    );
}

#[test]
fn drop_length_exceeds_payload() {
    assert_eq!(with(|b| set(b, 3, 25)), Err(Drop::LengthExceedsPayload));
}

#[test]
fn drop_detect_mult_zero() {
    assert_eq!(with(|b| set(b, 2, 0)), Err(Drop::DetectMultZero));
}

#[test]
fn drop_multipoint_set() {
    assert_eq!(with(|b| set(b, 1, 0xc1)), Err(Drop::MultipointSet));
}

#[test]
fn drop_my_discriminator_zero() {
    assert_eq!(with(|b| b.get_mut(4..8).unwrap().fill(0)), Err(Drop::MyDiscriminatorZero));
}

#[test]
fn drop_your_discriminator_zero_unless_down() {
    for (state, ok) in [(State::AdminDown, true), (State::Down, true), (State::Init, false), (State::Up, false)] {
        let mut p = up_packet();
        p.state = state;
        p.your_discriminator = 0;
        let r = decode(&bytes(&p));
        assert_eq!(r.is_ok(), ok, "{state:?}");
        if !ok {
            assert_eq!(r, Err(Drop::YourDiscriminatorZero));
        }
    }
}

#[test]
fn checks_run_in_rfc_order() {
    // Bad version and detect mult 0 and M set: the version is reported first.
    assert_eq!(
        with(|b| {
            set(b, 0, 0x40);
            set(b, 2, 0);
            set(b, 1, 0xc1);
        }),
        Err(Drop::BadVersion)
    );
    // Detect mult 0 and M set: detect mult first.
    assert_eq!(
        with(|b| {
            set(b, 2, 0);
            set(b, 1, 0xc1);
        }),
        Err(Drop::DetectMultZero)
    );
}

fn with_auth(section: &[u8]) -> Result<ControlPacket, Drop> {
    with(|b| {
        set(b, 1, 0xc4);
        set(b, 3, u8::try_from(24 + section.len()).unwrap());
        b.extend_from_slice(section);
    })
}

#[test]
fn drop_unknown_auth_type() {
    assert_eq!(with_auth(&[0, 4, 1, b'x']), Err(Drop::UnknownAuthType));
    assert_eq!(with_auth(&[6, 4, 1, b'x']), Err(Drop::UnknownAuthType));
}

#[test]
fn drop_bad_auth_len() {
    // Auth Len beyond Length.
    assert_eq!(with_auth(&[1, 9, 1, b'x']), Err(Drop::BadAuthLen));
    // Empty password, password of 17.
    assert_eq!(with_auth(&[1, 3, 1]), Err(Drop::BadAuthLen));
    let mut long = vec![1, 20, 1];
    long.extend_from_slice(&[b'p'; 17]);
    assert_eq!(with_auth(&long), Err(Drop::BadAuthLen));
    // MD5 with the SHA1 length, SHA1 with the MD5 length.
    let mut md5 = vec![2, 28, 1, 0];
    md5.extend_from_slice(&[0; 24]);
    assert_eq!(with_auth(&md5), Err(Drop::BadAuthLen));
    let mut sha = vec![4, 24, 1, 0];
    sha.extend_from_slice(&[0; 20]);
    assert_eq!(with_auth(&sha), Err(Drop::BadAuthLen));
    // Only two octets of section.
    assert_eq!(with_auth(&[1, 4]), Err(Drop::BadAuthLen));
}

#[test]
fn drop_names_are_unique() {
    let mut names: Vec<_> = Drop::ALL.iter().map(|d| d.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Drop::ALL.len());
}

#[test]
fn diag_codes_match_rfc_5880() {
    for (code, d) in [
        (0, Diag::None),
        (1, Diag::ControlDetectionTimeExpired),
        (2, Diag::EchoFunctionFailed),
        (3, Diag::NeighborSignaledSessionDown),
        (4, Diag::ForwardingPlaneReset),
        (5, Diag::PathDown),
        (6, Diag::ConcatenatedPathDown),
        (7, Diag::AdministrativelyDown),
        (8, Diag::ReverseConcatenatedPathDown),
        (9, Diag::Unknown(9)),
        (31, Diag::Unknown(31)),
    ] {
        assert_eq!(Diag::from_bits(code), d);
        assert_eq!(d.code(), code);
    }
}

fn arb_auth() -> impl Strategy<Value = Option<AuthSection>> {
    let digest = (2u8..=5, any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(|(t, key_id, seq, d)| {
        let auth_type = AuthType::from_u8(t).unwrap();
        let n = if auth_type == AuthType::KeyedMd5 || auth_type == AuthType::MeticulousKeyedMd5 { 16 } else { 20 };
        AuthSection::Digest { auth_type, key_id, seq, digest: d.get(..n).unwrap().to_vec() }
    });
    prop_oneof![
        Just(None),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16))
            .prop_map(|(key_id, password)| Some(AuthSection::SimplePassword { key_id, password })),
        digest.prop_map(Some),
    ]
}

proptest! {
    #[test]
    fn round_trip(
        diag in 0u8..32, state in 0u8..4, flags in 0u8..16, detect_mult in 1u8..,
        my in 1u32.., your in any::<u32>(), tx in any::<u32>(), rx in any::<u32>(), echo in any::<u32>(),
        auth in arb_auth(),
    ) {
        let state = State::from_bits(state);
        let your = if matches!(state, State::Init | State::Up) && your == 0 { 1 } else { your };
        let p = ControlPacket {
            version: 1, diag: Diag::from_bits(diag), state,
            poll: flags & 1 != 0, final_: flags & 2 != 0, cpi: flags & 4 != 0, demand: flags & 8 != 0,
            multipoint: false, detect_mult, my_discriminator: my, your_discriminator: your,
            desired_min_tx: tx, required_min_rx: rx, required_min_echo_rx: echo, auth,
        };
        let b = p.encode().unwrap();
        prop_assert_eq!(b.len(), usize::from(*b.get(3).unwrap()));
        prop_assert_eq!(decode(&b).unwrap(), p);
    }

    #[test]
    fn decode_never_panics_and_re_encodes(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = decode(&b) {
            let again = p.encode().unwrap();
            prop_assert_eq!(decode(&again).unwrap(), p);
        }
    }
}
