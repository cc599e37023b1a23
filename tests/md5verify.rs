//! Tests for `md5verify` against real TCP-MD5 captures: the BIRD/GoBGP IPv4 fixtures (with
//! their independently computed per-segment verdicts) and an IPv6 session captured in network
//! namespaces by `python3 -m lab capture-ipv6-md5` (interop/lab/fixtures.py) (verdicts confirmed by `tcpdump -M`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anycastd::md5verify::{segment_digest, verify_pcap, CaptureError, Md5VerifyError, Report, Verdict};
use serde_json::Value;

const KEY: &[u8] = b"anycast-lab-key";

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tcp-md5").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&data(name)).unwrap()
}

/// Checks every segment against `*.segments.json`: frame, addresses, digest and verdict.
fn cross_check(report: &Report, json: &Value, verdict_field: &str) {
    let want = json["segments"].as_array().unwrap();
    assert_eq!(report.segments.len(), want.len(), "segment count");
    for (got, want) in report.segments.iter().zip(want) {
        let frame = want["frame"].as_u64().unwrap();
        assert_eq!(got.frame, frame);
        assert_eq!(got.src.to_string(), want["src"].as_str().unwrap(), "frame {frame}");
        assert_eq!(got.dst.to_string(), want["dst"].as_str().unwrap(), "frame {frame}");
        assert_eq!(u64::from(got.seq), want["seq"].as_u64().unwrap(), "frame {frame}");
        assert_eq!(got.payload_len as u64, want["payload_len"].as_u64().unwrap(), "frame {frame}");
        let digest = want["md5_digest_in_packet"].as_str().unwrap();
        assert_eq!(got.digest_in_packet.as_deref(), Some(digest), "frame {frame}");
        let verdict = match want[verdict_field].as_str().unwrap() {
            "valid" => Verdict::Valid,
            "invalid" => Verdict::Invalid,
            other => panic!("unexpected verdict {other}"),
        };
        assert_eq!(got.verdict, verdict, "frame {frame}");
        // A valid segment's recomputed digest is the one in the packet; an invalid one's is not.
        let same = got.digest_expected.as_deref() == Some(digest);
        assert_eq!(same, verdict == Verdict::Valid, "frame {frame}");
    }
}

#[test]
fn bird_gobgp_session_every_segment_valid() {
    let report = verify_pcap(&data("bird-gobgp-md5.pcap"), KEY).unwrap();
    let json = expected("bird-gobgp-md5.segments.json");
    cross_check(&report, &json, "expected_with_key");
    cross_check(&report, &json, "tcpdump_4.99.3_-M_says");
    assert_eq!(report.format, "pcap");
    assert_eq!(report.link_types, ["ETHERNET (1)"]);
    assert_eq!(report.packets_total, 49);
    assert_eq!(report.flows.len(), 2);
    let valid: u64 = report.flows.iter().map(|f| f.counts.valid).sum();
    assert_eq!(valid, json["summary"]["valid"].as_u64().unwrap());
    for f in &report.flows {
        assert_eq!(
            (f.counts.signed, f.counts.invalid, f.counts.unsigned, f.counts.truncated),
            (f.counts.segments, 0, 0, 0)
        );
    }
    assert!(report.passed);
    assert_eq!(report.verdict, "OK: all 49 signed segments valid");
    let text = report.to_string();
    assert!(text.contains("192.0.2.1:46145 -> 192.0.2.2:179"), "{text}");
    assert!(text.ends_with("verdict: OK: all 49 signed segments valid"), "{text}");
}

#[test]
fn bird_gobgp_wrong_key_syns_fail() {
    let report = verify_pcap(&data("bird-gobgp-md5-wrongkey.pcap"), KEY).unwrap();
    let json = expected("bird-gobgp-md5-wrongkey.segments.json");
    cross_check(&report, &json, "expected_with_key");
    assert!(!report.passed);
    let [bird, gobgp] = &report.flows[..] else { panic!("{:?}", report.flows) };
    assert_eq!(bird.src.to_string(), "192.0.2.1:41863");
    assert_eq!((bird.counts.segments, bird.counts.valid, bird.counts.invalid), (7, 7, 0));
    assert_eq!(gobgp.src.to_string(), "192.0.2.2:52703");
    assert_eq!((gobgp.counts.segments, gobgp.counts.valid, gobgp.counts.invalid), (4, 0, 4));
    assert_eq!(gobgp.first_invalid_frame, Some(5));
    assert_eq!(gobgp.first_invalid_flags.as_deref(), Some("SYN"));
    assert!(
        report.verdict.starts_with(
            "FAIL: 4 segments FAILED: key mismatch on 192.0.2.2:52703 -> 192.0.2.1:179 (SYN, first at frame 5): "
        ),
        "{}",
        report.verdict
    );
    // With GoBGP's key the verdicts swap, exactly as the fixture says.
    let swapped = verify_pcap(&data("bird-gobgp-md5-wrongkey.pcap"), b"wrong-key-0000").unwrap();
    cross_check(&swapped, &json, "expected_with_key_\"wrong-key-0000\"");
}

#[test]
fn report_serialises_for_json_output() {
    let report = verify_pcap(&data("bird-gobgp-md5-wrongkey.pcap"), KEY).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["flows"][1]["src"], "192.0.2.2:52703");
    assert_eq!(v["flows"][1]["invalid"], 4);
    assert_eq!(v["segments"][4]["verdict"], "invalid");
    assert_eq!(v["packets_total"], 11);
}

/// The IPv6 session, captured four ways; tcpdump -M says all 10 segments are valid.
#[test]
fn ipv6_session_valid_on_every_link_type() {
    for (file, format, link) in [
        ("ipv6-md5.pcap", "pcap", "ETHERNET (1)"),
        ("ipv6-md5.pcapng", "pcapng", "ETHERNET (1)"),
        ("ipv6-md5-any.pcap", "pcap", "LINUX_SLL2 (276)"),
        ("ipv6-md5-sll.pcap", "pcap", "LINUX_SLL (113)"),
    ] {
        let report = verify_pcap(&data(file), KEY).unwrap();
        assert_eq!((report.format, report.link_types.as_slice()), (format, &[link.to_owned()][..]));
        assert_eq!(report.verdict, "OK: all 10 signed segments valid", "{file}\n{report}");
        let [client, server] = &report.flows[..] else { panic!("{file}: {:?}", report.flows) };
        assert_eq!(client.dst.to_string(), "[2001:db8:6::2]:179", "{file}");
        assert_eq!(server.src.to_string(), "[2001:db8:6::2]:179", "{file}");
        assert_eq!((client.counts.valid, server.counts.valid), (6, 4), "{file}");
        let flags: Vec<&str> = report.segments.iter().map(|s| s.flags.as_str()).collect();
        assert_eq!(flags[..4], ["SYN", "SYN,ACK", "ACK", "PSH,ACK"], "{file}");
        assert_eq!(report.segments[3].payload_len, 19, "BGP KEEPALIVE");

        let wrong = verify_pcap(&data(file), b"anycast-lab-kez").unwrap();
        assert_eq!(wrong.flows.iter().map(|f| f.counts.invalid).sum::<u64>(), 10, "{file}");
        assert!(!wrong.passed);
    }
}

#[test]
fn snaplen_cut_segments_are_not_verifiable_but_never_invalid() {
    // -s 100: both SYNs lose part of their TCP header, both KEEPALIVEs lose data.
    let report = verify_pcap(&data("ipv6-md5-snap100.pcap"), KEY).unwrap();
    let verdicts: Vec<Verdict> = report.segments.iter().map(|s| s.verdict).collect();
    use Verdict::{Truncated as T, Valid as V};
    assert_eq!(verdicts, [T, T, V, T, V, T, V, V, V, V]);
    assert_eq!(report.segments[0].flags, "SYN");
    assert_eq!(report.segments[1].flags, "SYN,ACK");
    assert_eq!(report.packets_undecodable, 0);
    assert!(report.passed);
    assert!(report.verdict.starts_with("OK: 6 of 10 signed segments valid"), "{}", report.verdict);
    assert!(report.verdict.contains("4 segments cut by the snaplen"), "{}", report.verdict);
}

/// Rewrites a little-endian Ethernet pcap into another link type, replacing each 14-byte
/// Ethernet header by `prefix`.
fn relink(pcap: &[u8], link: u32, prefix: &[u8]) -> Vec<u8> {
    let mut out = pcap[..20].to_vec();
    out.extend_from_slice(&link.to_le_bytes());
    let mut rest = &pcap[24..];
    while !rest.is_empty() {
        let incl = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(rest[12..16].try_into().unwrap()) as usize;
        let body = [prefix, &rest[16 + 14..16 + incl]].concat();
        out.extend_from_slice(&rest[..8]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&((orig - 14 + prefix.len()) as u32).to_le_bytes());
        out.extend_from_slice(&body);
        rest = &rest[16 + incl..];
    }
    out
}

#[test]
fn raw_null_and_loop_link_types() {
    let pcap = data("ipv6-md5.pcap");
    for (link, prefix) in [(101, &[][..]), (0, &[30, 0, 0, 0][..]), (108, &[0, 0, 0, 10][..])] {
        let report = verify_pcap(&relink(&pcap, link, prefix), KEY).unwrap();
        assert_eq!(report.verdict, "OK: all 10 signed segments valid", "link {link}\n{report}");
    }
    let err = verify_pcap(&relink(&pcap, 147, &[]), KEY).unwrap_err();
    assert_eq!(
        err,
        Md5VerifyError::Capture(CaptureError::UnsupportedLinkType { frame: 1, link: "USER0 (147)".to_owned() })
    );
    assert!(err.to_string().contains("link type USER0 (147) is not supported"), "{err}");
}

#[test]
fn file_cut_mid_record_keeps_what_was_read() {
    let pcap = data("bird-gobgp-md5-wrongkey.pcap");
    let report = verify_pcap(&pcap[..pcap.len() - 10], KEY).unwrap();
    assert!(report.capture_truncated);
    assert_eq!(report.packets_total, 10);
    assert!(report.to_string().contains("file ends mid-record"));
    let ng = data("ipv6-md5.pcapng");
    let report = verify_pcap(&ng[..ng.len() - 10], KEY).unwrap();
    assert!(report.capture_truncated);
}

#[test]
fn not_a_capture_and_empty_captures() {
    let err = verify_pcap(b"BGP!", KEY).unwrap_err();
    assert_eq!(err, Md5VerifyError::Capture(CaptureError::NotACapture { magic: "42475021".to_owned() }));
    let header_only = &data("bird-gobgp-md5.pcap")[..24];
    let report = verify_pcap(header_only, KEY).unwrap();
    assert!(!report.passed);
    assert!(report.verdict.starts_with("FAIL: no TCP segments in 0 packets"), "{}", report.verdict);
}

#[test]
fn segment_digest_matches_independent_vectors() {
    // Computed with Python hashlib from RFC 2385 §2.0 (see report): PSH,ACK with
    // nop,nop,md5 and a 19-byte KEEPALIVE; the checksum 0xbeef must be ignored.
    let seg = hex(
        "00b3d4310000000100000002a0181000beef00000101131200000000000000000000000000000000ffffffffffffffffffffffffffffffff001304",
    );
    let v6: [IpAddr; 2] = ["2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()];
    let v4: [IpAddr; 2] = ["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()];
    let d6 = segment_digest(v6[0], v6[1], &seg, b"k3y").unwrap();
    assert_eq!(d6.to_vec(), hex("e1bc04592492dee635601b498a5bbba1"));
    let d4 = segment_digest(v4[0], v4[1], &seg, b"k3y").unwrap();
    assert_eq!(d4.to_vec(), hex("b93af800561d7f97629cfe8a33025063"));
    let mut other_checksum = seg.clone();
    other_checksum[16] = 0;
    assert_eq!(segment_digest(v4[0], v4[1], &other_checksum, b"k3y"), Some(d4));
    let mut other_option = seg.clone();
    other_option[30] = 0xaa; // inside the MD5 option: options are not covered
    assert_eq!(segment_digest(v4[0], v4[1], &other_option, b"k3y"), Some(d4));
    let mut other_data = seg.clone();
    *other_data.last_mut().unwrap() = 5;
    assert_ne!(segment_digest(v4[0], v4[1], &other_data, b"k3y"), Some(d4));
    assert_ne!(segment_digest(v4[0], v4[1], &seg, b"k3z"), Some(d4));
    // Mixed families, short segments and bad data offsets are refused, not panicked on.
    assert_eq!(segment_digest(v4[0], v6[1], &seg, b"k3y"), None);
    assert_eq!(segment_digest(v4[0], v4[1], &seg[..12], b"k3y"), None);
    let mut bad_offset = seg.clone();
    bad_offset[12] = 0x40;
    assert_eq!(segment_digest(v4[0], v4[1], &bad_offset, b"k3y"), None);
    bad_offset[12] = 0xf0;
    assert_eq!(segment_digest(v4[0], v4[1], &bad_offset[..50], b"k3y"), None);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn flow_addresses_are_socket_addrs() {
    let report = verify_pcap(&data("ipv6-md5.pcap"), KEY).unwrap();
    let want: SocketAddr = "[2001:db8:6::1]:43935".parse().unwrap();
    assert_eq!(report.flows[0].src.ip(), want.ip());
}

/// xorshift64*: deterministic pseudo-random bytes without another dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn no_panic_on_truncated_mutated_or_random_input() {
    let files = [
        "bird-gobgp-md5.pcap",
        "bird-gobgp-md5-wrongkey.pcap",
        "ipv6-md5.pcap",
        "ipv6-md5.pcapng",
        "ipv6-md5-any.pcap",
        "ipv6-md5-sll.pcap",
        "ipv6-md5-snap100.pcap",
    ];
    // MD5VERIFY_FUZZ_ROUNDS scales the mutation rounds for a longer soak (default 3000).
    let rounds: u64 = std::env::var("MD5VERIFY_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ rounds);
    let mut runs = 0u64;
    for file in files {
        let pcap = data(file);
        for len in 0..=pcap.len() {
            let _ = verify_pcap(&pcap[..len], KEY);
            runs += 1;
        }
        for _ in 0..rounds {
            let mut m = pcap.clone();
            for _ in 0..=rng.next() % 8 {
                let at = (rng.next() % m.len() as u64) as usize;
                m[at] = match rng.next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.next() as u8,
                };
            }
            let cut = m.len() - (rng.next() % 64) as usize;
            let _ = verify_pcap(&m[..cut], KEY);
            runs += 1;
        }
    }
    for magic in [[0xd4, 0xc3, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a], [0xa1, 0xb2, 0xc3, 0xd4]] {
        for _ in 0..rounds {
            let len = (rng.next() % 600) as usize;
            let mut m = magic.to_vec();
            m.extend((0..len).map(|_| rng.next() as u8));
            let _ = verify_pcap(&m, KEY);
            runs += 1;
        }
    }
    assert!(runs > 30_000);
}

/// One IPv4 packet with a TCP (or UDP when `tcp_options` is `None`) header.
fn ipv4_packet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, tcp_options: Option<&[u8]>) -> Vec<u8> {
    let ip = etherparse::PacketBuilder::ipv4(src, dst, 64);
    let mut out = Vec::new();
    match tcp_options {
        Some(options) => {
            let mut tcp = etherparse::TcpHeader::new(sport, dport, 1, 1000);
            tcp.set_options_raw(options).unwrap();
            ip.tcp_header(tcp).write(&mut out, b"x").unwrap();
        }
        None => ip.udp(sport, dport).write(&mut out, b"x").unwrap(),
    }
    out
}

fn with_records(pcap: &[u8], packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = pcap.to_vec();
    for p in packets {
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn unsigned_bgp_and_bad_options_fail_other_traffic_is_ignored() {
    let raw = relink(&data("ipv6-md5.pcap"), 101, &[]);
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 9]);
    let ssh = ipv4_packet(a, 22, b, 40000, Some(&[]));
    let udp = ipv4_packet(a, 53, b, 40000, None);
    let mut fragment = ipv4_packet(a, 22, b, 40000, Some(&[]));
    fragment[6] = 0x20; // more fragments
    let report = verify_pcap(&with_records(&raw, &[ssh, udp, fragment]), KEY).unwrap();
    assert_eq!(report.verdict, "OK: all 10 signed segments valid", "{report}");
    assert_eq!((report.packets_skipped_non_tcp, report.packets_undecodable), (1, 1));
    assert_eq!((report.flows.len(), report.flows[2].counts.unsigned), (3, 1));

    let bgp_unsigned = ipv4_packet(b, 179, a, 40000, Some(&[]));
    let report = verify_pcap(&with_records(&raw, &[bgp_unsigned]), KEY).unwrap();
    assert!(!report.passed);
    assert_eq!(
        report.verdict,
        "FAIL: 1 unsigned segment on 192.0.2.9:179 -> 192.0.2.1:40000: that sender has no TCP-MD5 key for this peer"
    );

    let short_md5 = ipv4_packet(b, 179, a, 40000, Some(&[19, 6, 1, 2, 3, 4, 1, 1]));
    let report = verify_pcap(&with_records(&raw, &[short_md5]), KEY).unwrap();
    assert_eq!(report.segments[10].verdict, Verdict::BadOption);
    assert_eq!(report.verdict, "FAIL: 1 segment with a malformed MD5 option (length != 18)");

    let header_only = &raw[..24];
    let report = verify_pcap(&with_records(header_only, &[ipv4_packet(a, 22, b, 1, Some(&[]))]), KEY).unwrap();
    assert_eq!(
        report.verdict,
        "FAIL: none of 1 TCP segment carries a TCP-MD5 option: configure the password on both peers"
    );
}

#[test]
fn keys_are_checked_before_the_capture() {
    assert_eq!(verify_pcap(b"", b""), Err(Md5VerifyError::EmptyKey));
    let err = verify_pcap(&data("ipv6-md5.pcap"), &[b'k'; 81]).unwrap_err();
    assert_eq!(err, Md5VerifyError::KeyTooLong { len: 81 });
    assert!(err.to_string().contains("81 bytes, longer than the 80-byte limit"), "{err}");
    let at_limit = verify_pcap(&data("ipv6-md5.pcap"), &[b'k'; 80]).unwrap();
    assert_eq!(at_limit.flows.iter().map(|f| f.counts.invalid).sum::<u64>(), 10);
    let err = verify_pcap(b"", KEY).unwrap_err();
    assert_eq!(err, Md5VerifyError::Capture(CaptureError::NotACapture { magic: "nothing (empty input)".to_owned() }));
}
