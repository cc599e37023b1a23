//! Every real-router fixture under `fixtures/` is decoded and checked against its expected
//! decoding (written from tcpdump/tshark/NetGauze output, not by this project), and every
//! canonical message is re-encoded byte for byte.

use anycastd::cli::decode;
use anycastd::wire::{self, attr, Message, SessionParams};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["fixtures/messages", "fixtures/lab"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                v.push(e.path());
            }
        }
    }
    v.sort();
    assert!(v.len() >= 38, "expected the shared fixture set, found {} files", v.len());
    v
}

fn load(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn params(f: &Value) -> SessionParams {
    let ctx = &f["decode_context"];
    let ap = ctx["add_path"].as_bool().unwrap_or(false);
    SessionParams {
        four_octet_as: ctx["four_octet_as"].as_bool().unwrap_or(true),
        extended_message: false,
        add_path_v4: ap,
        add_path_v6: ap,
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

/// Prefixes compared as values: `::ffff:0:0/96` and `::ffff:0.0.0.0/96` are the same prefix.
fn nets(v: &[String]) -> Vec<ipnet::IpNet> {
    v.iter().map(|s| s.parse().unwrap_or_else(|_| panic!("bad prefix {s}"))).collect()
}

/// Community names in expectations ("NO_EXPORT") as `a:b`.
fn community_text(s: &str) -> String {
    s.parse::<wire::community::Community>().map(|c| c.to_string()).unwrap_or_else(|_| s.to_string())
}

fn check_open(name: &str, exp: &Value, got: &Value, o: &wire::Open) {
    assert_eq!(got["version"], exp["version"], "{name}");
    assert_eq!(got["my_as"], exp["my_as"], "{name}");
    assert_eq!(got["hold_time"], exp["hold_time"], "{name}");
    assert_eq!(got["bgp_id"], exp["bgp_id"], "{name}");
    if exp["extended_opt_params_rfc9072"] == true {
        assert_eq!(got["extended_opt_params"], true, "{name}");
    }
    let ecaps = exp["capabilities"].as_array().unwrap();
    let gcaps = got["capabilities"].as_array().unwrap();
    assert_eq!(gcaps.len(), ecaps.len(), "{name}: capability count");
    for (e, g) in ecaps.iter().zip(gcaps) {
        assert_eq!(g["code"], e["code"], "{name}: capability code");
        assert_eq!(g["len"], e["len"], "{name}: capability {} length", e["code"]);
        for k in ["afi", "safi", "asn", "restart_time", "hostname", "domainname", "tuples"] {
            if !e[k].is_null() {
                assert_eq!(g[k], e[k], "{name}: capability {} field {k}", e["code"]);
            }
        }
        if let (Some(ea), Some(ga)) = (e["afs"].as_array(), g["afs"].as_array()) {
            assert_eq!(ea.len(), ga.len(), "{name}: afs");
            for (x, y) in ea.iter().zip(ga) {
                assert_eq!((x["afi"].clone(), x["safi"].clone()), (y["afi"].clone(), y["safi"].clone()), "{name}");
            }
        }
    }
    // The expected 4-octet AS (from the capability) is what `asn` reports.
    if let Some(c) = ecaps.iter().find(|c| c["code"] == 65) {
        assert_eq!(got["asn"], c["asn"], "{name}");
        assert_eq!(o.asn(), c["asn"].as_u64().unwrap() as u32);
    }
}

fn check_update(name: &str, exp: &Value, got: &Value, four_octet_as: bool) {
    let mut announced = strs(&exp["nlri"]);
    let mut withdrawn = strs(&exp["withdrawn"]);
    let mut communities = Vec::new();
    let mut large = Vec::new();
    let mut next_hop = None;
    for a in exp["path_attributes"].as_array().unwrap() {
        match a["type_code"].as_u64().unwrap() as u8 {
            attr::type_code::MP_REACH_NLRI => {
                announced.extend(strs(&a["value"]["nlri"]));
                if let Some(nh) = a["value"]["nexthops"].as_array().and_then(|v| v.first()) {
                    if a["value"]["nlri"].is_array() {
                        next_hop = nh.as_str().map(String::from);
                    }
                }
            }
            attr::type_code::MP_UNREACH_NLRI => withdrawn.extend(strs(&a["value"]["withdrawn"])),
            attr::type_code::COMMUNITIES => {
                communities = strs(&a["communities"]).iter().map(|s| community_text(s)).collect()
            }
            attr::type_code::LARGE_COMMUNITY => large = strs(&a["large_communities"]),
            attr::type_code::NEXT_HOP if !exp["nlri"].as_array().unwrap().is_empty() => {
                next_hop = a["value"].as_str().map(String::from)
            }
            attr::type_code::AS_PATH
                // On a 4-octet session the segments are the AS_PATH as sent.
                if four_octet_as => {
                    let segs = got["as_path_segments"].as_array().unwrap();
                    let esegs = a["segments"].as_array().unwrap();
                    assert_eq!(segs.len(), esegs.len(), "{name}: segments");
                    for (s, e) in segs.iter().zip(esegs) {
                        assert_eq!(s["type"], e["type"], "{name}");
                        assert_eq!(s["asns"], e["asns"], "{name}");
                    }
                }
            _ => {}
        }
    }
    assert_eq!(nets(&strs(&got["announced"])), nets(&announced), "{name}: announced");
    assert_eq!(nets(&strs(&got["withdrawn"])), nets(&withdrawn), "{name}: withdrawn");
    assert_eq!(strs(&got["communities"]), communities, "{name}: communities");
    assert_eq!(strs(&got["large_communities"]), large, "{name}: large communities");
    if let Some(nh) = next_hop {
        assert_eq!(got["next_hop"].as_str(), Some(nh.as_str()), "{name}: next hop");
    }
    assert_eq!(got["end_of_rib"], Value::Bool(exp["end_of_rib"].is_object()), "{name}: end of RIB");
    let eattrs = exp["path_attributes"].as_array().unwrap();
    let gattrs = got["path_attributes"].as_array().unwrap();
    assert_eq!(gattrs.len(), eattrs.len(), "{name}: attribute count");
    for (g, e) in gattrs.iter().zip(eattrs) {
        assert_eq!((&g["type_code"], &g["flags"], &g["len"]), (&e["type_code"], &e["flags"], &e["len"]), "{name}");
    }
}

/// RFC 6793 §4.2.3 by hand from the expectation: the leading ASNs of AS_PATH that AS4_PATH
/// does not cover, then AS4_PATH (sequences only, as in the fixtures).
fn merged_as_path(exp: &Value) -> Option<Vec<u64>> {
    let attrs = exp["path_attributes"].as_array()?;
    let asns = |tc: u64| -> Option<Vec<u64>> {
        let a = attrs.iter().find(|a| a["type_code"] == tc)?;
        Some(
            a["segments"]
                .as_array()?
                .iter()
                .flat_map(|s| s["asns"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()))
                .collect(),
        )
    };
    let (ap, ap4) = (asns(2)?, asns(17)?);
    let mut v = ap[..ap.len() - ap4.len()].to_vec();
    v.extend(ap4);
    Some(v)
}

/// Re-encode from the owned model and compare octets.
fn reencode(m: &Message<'_>, p: &SessionParams) -> Vec<u8> {
    let mut b = Vec::new();
    match m {
        Message::Open(o) => o.encode(&mut b).unwrap(),
        Message::Update(u) => u.to_owned_msg().encode(p, &mut b).unwrap(),
        Message::Notification(n) => n.encode(&mut b),
        Message::Keepalive => wire::encode_keepalive(&mut b),
        Message::RouteRefresh(r) => r.encode(&mut b),
    }
    b
}

#[test]
fn every_fixture_decodes_as_expected() {
    let mut checked = 0;
    for path in fixture_files() {
        let f = load(&path);
        let name = f["name"].as_str().unwrap().to_string();
        let kind = f["kind"].as_str().unwrap();
        let bytes = wire::unhex(f["hex"].as_str().unwrap()).unwrap();
        let exp = &f["expected"];
        let p = params(&f);
        match kind {
            "message" => {
                let (m, used) = wire::decode_message(&bytes, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(used, bytes.len(), "{name}");
                let got = decode::message_json(&m);
                let ty = exp["type"].as_str().unwrap().replace('-', "_");
                assert_eq!(got["type"], Value::String(ty.clone()), "{name}");
                match &m {
                    Message::Open(o) => check_open(&name, exp, &got, o),
                    Message::Update(u) => {
                        assert!(u.treat_as_withdraw.is_none(), "{name}");
                        check_update(&name, exp, &got, p.four_octet_as);
                        if let (false, Some(merged)) = (p.four_octet_as, merged_as_path(exp)) {
                            let got_path: Vec<u64> =
                                got["as_path"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
                            assert_eq!(got_path, merged, "{name}: RFC 6793 merge");
                        }
                    }
                    Message::Notification(_) => {
                        assert_eq!(got["code"], exp["error_code"], "{name}");
                        assert_eq!(got["subcode"], exp["error_subcode"], "{name}");
                        assert_eq!(got["data"], exp["data_hex"], "{name}");
                        if let Some(t) = exp["shutdown_communication"]["text"].as_str() {
                            assert_eq!(got["shutdown_communication"].as_str(), Some(t), "{name}");
                        }
                    }
                    Message::RouteRefresh(_) => {
                        assert_eq!(
                            (&got["afi"], &got["safi"], &got["subtype"]),
                            (&exp["afi"], &exp["safi"], &exp["subtype"]),
                            "{name}"
                        );
                        if let Some(orf) = exp["orf_bytes"].as_u64() {
                            assert_eq!(got["orf_len"].as_u64(), Some(orf), "{name}");
                        }
                    }
                    Message::Keepalive => {}
                }
                assert_eq!(wire::hex(&reencode(&m, &p)), wire::hex(&bytes), "{name}: re-encoding differs");
            }
            "malformed" => check_malformed(&name, &f, &bytes, &p),
            "path-attribute-value" => {
                let r = attr::MpReach::parse(&bytes, false, false);
                match exp["decode_error"].as_str() {
                    Some(_) => assert!(r.is_err(), "{name}: must fail"),
                    None => {
                        let m = r.unwrap_or_else(|e| panic!("{name}: {e}"));
                        let got: Vec<String> = m.prefixes().map(|p| p.net.to_string()).collect();
                        // FRR's test accepts and masks host bits: 10.2.3.0/17 → 10.2.0.0/17.
                        let want: Vec<String> = strs(&exp["nlri"])
                            .iter()
                            .map(|s| s.parse::<ipnet::IpNet>().unwrap().trunc().to_string())
                            .collect();
                        assert_eq!(got, want, "{name}");
                        assert_eq!(
                            m.next_hops().0.map(|a| a.to_string()),
                            strs(&exp["nexthops"]).first().cloned(),
                            "{name}"
                        );
                    }
                }
            }
            other => panic!("{name}: unknown kind {other}"),
        }
        checked += 1;
    }
    assert!(checked >= 38);
}

fn check_malformed(name: &str, f: &Value, bytes: &[u8], p: &SessionParams) {
    let exp = &f["expected"];
    let r = wire::decode_message(bytes, p);
    if exp["marker_ok"] == false {
        // RFC 4271 §6.1: a bad marker is Connection Not Synchronized.
        let e = r.err().unwrap_or_else(|| panic!("{name}: must fail"));
        assert_eq!((e.code(), e.subcode()), (1, 1), "{name}");
        // With the marker repaired, the overrunning MP_UNREACH_NLRI still resets the session.
        let mut fixed = bytes.to_vec();
        fixed[..16].fill(0xff);
        let e = wire::decode_message(&fixed, p).err().unwrap_or_else(|| panic!("{name}: repaired must fail"));
        assert_eq!(e.action, wire::ErrorAction::SessionReset, "{name}");
        assert_eq!(e.code(), 3, "{name}");
        return;
    }
    // Malformed shutdown communications decode as NOTIFICATIONs and expose what they carry.
    let (m, _) = r.unwrap_or_else(|e| panic!("{name}: {e}"));
    let Message::Notification(n) = m else { panic!("{name}: not a NOTIFICATION") };
    assert_eq!((n.code, n.subcode), (6, 4), "{name}");
    assert_eq!(wire::hex(&n.data), exp["data_hex"].as_str().unwrap(), "{name}");
    let sc = &exp["shutdown_communication"];
    match n.shutdown_communication() {
        Some(Ok(s)) => {
            assert_eq!(Some(s.text.as_str()), sc["text"].as_str(), "{name}");
            assert_eq!(wire::hex(&s.trailing), sc["trailing_data_hex"].as_str().unwrap_or_default(), "{name}");
        }
        Some(Err(len)) => assert_eq!(u64::from(len), sc["length"].as_u64().unwrap(), "{name}"),
        None => panic!("{name}: no shutdown communication"),
    }
}

#[test]
fn decode_command_continues_after_a_bad_message() {
    // KEEPALIVE, an UPDATE with an unknown well-known attribute, then a NOTIFICATION.
    let mut stream = Vec::new();
    wire::encode_keepalive(&mut stream);
    stream.extend_from_slice(&wire::unhex("ffffffffffffffffffffffffffffffff001a0200000003406300").unwrap()[..]);
    wire::Notification::cease_with_message(2, "bye").encode(&mut stream);
    let out = decode::decode_stream(&stream, &SessionParams::default());
    let types: Vec<&str> = out.lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["KEEPALIVE", "ERROR", "NOTIFICATION"]);
    assert_eq!((out.lines[1]["code"].as_u64(), out.lines[1]["subcode"].as_u64()), (Some(3), Some(2)));
    assert_eq!(out.failed, 1);
}
