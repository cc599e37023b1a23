use super::*;
use std::net::TcpListener;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn command_line() {
    let o = parse_args(&args("--connect 192.0.2.11:179 --as 65000 --hold 9 --v4 10 --v6 0 --linger 0.5")).unwrap();
    assert_eq!(o.connect, Some("192.0.2.11:179".parse().unwrap()));
    assert_eq!((o.local_as, o.hold, o.v4, o.v6), (65000, 9, 10, 0));
    assert_eq!(o.linger, Duration::from_millis(500));
    for bad in [
        "--as 65000",
        "--connect 192.0.2.11:179 --listen 192.0.2.1:179 --as 1",
        "--connect 192.0.2.11:179",
        "--connect 192.0.2.11:179 --as 1 --hold 2",
        "--connect 192.0.2.11:179 --as 1 --v4 0 --v6 0",
        "--connect 192.0.2.11:179 --as 1 --timeout 99999",
        "--connect 192.0.2.11:179 --as",
        "--connect nowhere --as 1",
        "--bogus 1",
    ] {
        assert!(parse_args(&args(bad)).is_err(), "{bad}");
    }
}

#[test]
fn open_round_trip_and_four_octet_as() {
    let m = bgp::open(4_200_000_001, 9, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(bgp::frame(&m).unwrap(), Some((bgp::OPEN, m.len())));
    assert_eq!(&m[19..22], &[4, 0x5b, 0xa0], "AS_TRANS in My AS");
    let p = bgp::parse_open(&m[19..]).unwrap();
    assert_eq!(p.asn, 4_200_000_001);
    assert_eq!((p.hold, p.id), (9, Ipv4Addr::new(192, 0, 2, 1)));
    assert!(p.four_octet_as && p.ipv4_unicast && p.ipv6_unicast);
    // No capabilities at all: a 2-octet speaker, IPv4 unicast only.
    let p = bgp::parse_open(&[4, 0xfd, 0xe8, 0, 90, 192, 0, 2, 7, 0]).unwrap();
    assert_eq!(p.asn, 65000);
    assert!(!p.four_octet_as && p.ipv4_unicast && !p.ipv6_unicast);
    assert!(bgp::parse_open(&[4, 0, 1, 0, 2, 192, 0, 2, 7, 0]).is_err(), "hold 2");
    assert!(bgp::parse_open(&[4, 0, 1, 0, 9, 192, 0, 2, 7, 9, 2]).is_err(), "overrun");
    assert!(bgp::parse_open(&[4, 0, 1, 0, 9, 192, 0, 2, 7, 4, 2, 2, 65]).is_err(), "short capability");
}

#[test]
fn end_of_ribs_and_framing() {
    for eor in [bgp::end_of_rib_v4(), bgp::end_of_rib_v6()] {
        assert_eq!(bgp::frame(&eor).unwrap(), Some((bgp::UPDATE, eor.len())));
        assert!(bgp::is_end_of_rib(&eor[19..]));
    }
    assert_eq!(bgp::end_of_rib_v4().len(), 23);
    assert_eq!(bgp::end_of_rib_v6().len(), 29);
    let ka = bgp::keepalive();
    assert_eq!(bgp::frame(&ka[..18]).unwrap(), None);
    let mut bad = ka.clone();
    bad[0] = 0;
    assert!(bgp::frame(&bad).is_err());
    bad = ka;
    bad[17] = 18;
    assert!(bgp::frame(&bad).is_err());
}

/// A minimal receiver: OPEN (with or without 4-octet AS), KEEPALIVE, then it counts every
/// prefix until both End-of-RIBs, checks that none repeats, and sends a Cease.
/// (IPv4 prefixes, IPv6 prefixes, the body of the NOTIFICATION the feeder sent, if any).
type Received = Result<(usize, usize, Vec<u8>), String>;

fn fake_receiver(l: TcpListener, four_octet: bool) -> std::thread::JoinHandle<Received> {
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut pending = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let (kind, _) = read_message(&mut s, &mut pending, deadline)?;
        assert_eq!(kind, bgp::OPEN);
        let mut open = bgp::open(65124, 9, Ipv4Addr::new(192, 0, 2, 11));
        if !four_octet {
            // Drop the 4-octet AS capability (its 6 octets at the end) and fix the lengths.
            open.truncate(open.len() - 6);
            let n = open.len();
            open[16..18].copy_from_slice(&(n as u16).to_be_bytes());
            open[28] -= 6;
            open[30] -= 6;
        }
        s.write_all(&open).map_err(|e| e.to_string())?;
        s.write_all(&bgp::keepalive()).map_err(|e| e.to_string())?;
        let (mut v4, mut v6, mut eors) = (0, 0, 0);
        let mut seen = std::collections::HashSet::new();
        while eors < 2 {
            let (kind, body) = read_message(&mut s, &mut pending, deadline)?;
            match kind {
                bgp::KEEPALIVE => continue,
                bgp::NOTIFICATION => return Ok((v4, v6, body)),
                bgp::UPDATE if bgp::is_end_of_rib(&body) => eors += 1,
                bgp::UPDATE => {
                    let alen = usize::from(u16::from_be_bytes([body[2], body[3]]));
                    let (mut attrs, nlri) = body[4..].split_at(alen);
                    let mut walk = |mut n: &[u8], fam: u8| -> usize {
                        let mut count = 0;
                        while !n.is_empty() {
                            let o = usize::from(n[0]).div_ceil(8);
                            assert!(seen.insert((fam, n[..1 + o].to_vec())), "prefix repeated");
                            n = &n[1 + o..];
                            count += 1;
                        }
                        count
                    };
                    while !attrs.is_empty() {
                        let ext = attrs[0] & 0x10 != 0;
                        let (vlen, hdr) = if ext {
                            (usize::from(u16::from_be_bytes([attrs[2], attrs[3]])), 4)
                        } else {
                            (usize::from(attrs[2]), 3)
                        };
                        let value = &attrs[hdr..hdr + vlen];
                        if attrs[1] == 2 {
                            // AS_SEQUENCE, 4-octet ASNs, the feeder's AS first.
                            assert_eq!(&value[2..6], &65000u32.to_be_bytes());
                        }
                        if attrs[1] == 14 {
                            v6 += walk(&value[5 + usize::from(value[3])..], 6);
                        }
                        attrs = &attrs[hdr + vlen..];
                    }
                    v4 += walk(nlri, 4);
                }
                k => return Err(format!("unexpected type {k}")),
            }
        }
        s.write_all(&bgp::notification(6, 2, &[])).map_err(|e| e.to_string())?;
        Ok((v4, v6, Vec::new()))
    })
}

fn options(port: u16) -> Options {
    let mut o = parse_args(&args(&format!("--connect 127.0.0.1:{port} --as 65000 --peer-as 65124 --hold 9"))).unwrap();
    (o.v4, o.v6, o.linger, o.timeout) = (30_000, 6_000, Duration::from_secs(5), Duration::from_secs(30));
    o
}

#[test]
fn streams_the_whole_table_over_a_real_session() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let o = options(l.local_addr().unwrap().port());
    let rx = fake_receiver(l, true);
    let table = build_table(&o);
    assert_eq!((table.v4, table.v6), (30_000, 6_000));
    let out = run(&o, &table).unwrap();
    let (v4, v6, note) = rx.join().unwrap().unwrap();
    assert_eq!((v4, v6), (30_000, 6_000));
    assert!(note.is_empty());
    assert!(out.sent, "{out:?}");
    // The receiver's Cease ended the session, not the linger.
    assert_eq!(out.notification.as_deref(), Some(&[6u8, 2][..]), "{out:?}");
}

#[test]
fn refuses_a_peer_without_four_octet_as() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let o = options(l.local_addr().unwrap().port());
    let rx = fake_receiver(l, false);
    let err = run(&o, &build_table(&o)).unwrap_err();
    assert!(err.contains("4-octet"), "{err}");
    let (v4, _, note) = rx.join().unwrap().unwrap();
    assert_eq!(v4, 0);
    assert_eq!(note, [2, 7, 65, 4], "Unsupported Capability, naming it");
}
