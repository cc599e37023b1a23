//! `anycastd decode` as an operator runs it: binary files and hex lines (from a file and from
//! stdin), the required JSON keys, ERROR objects and exit statuses.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn fixture_hex(name: &str) -> String {
    let p = format!("{}/fixtures/messages/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["hex"].as_str().unwrap().to_string()
}

fn run(args: &[&str], stdin: &[u8]) -> (Vec<Value>, i32) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = c.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (lines, out.status.code().unwrap())
}

#[test]
fn hex_lines_from_stdin_with_required_keys() {
    let text = [
        fixture_hex("open-juniper-mx204-ipv4-unicast"),
        fixture_hex("update-bird-communities-large-ext-med"),
        fixture_hex("notification-cease-admin-shutdown-communication"),
        fixture_hex("keepalive-gobgp"),
        fixture_hex("route-refresh-bird-ipv4-unicast"),
        fixture_hex("update-bird-end-of-rib-ipv6"),
    ]
    .join("\n");
    let (v, code) = run(&["decode", "--hex", "-"], text.as_bytes());
    assert_eq!(code, 0);
    let types: Vec<&str> = v.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["OPEN", "UPDATE", "NOTIFICATION", "KEEPALIVE", "ROUTE_REFRESH", "UPDATE"]);
    // OPEN: the 4-octet AS from the capability, not AS_TRANS.
    assert_eq!(v[0]["asn"], 4226809875u64);
    assert_eq!(v[0]["hold_time"], 90);
    assert_eq!(v[0]["bgp_id"], "192.0.2.119");
    assert!(v[0]["capabilities"].as_array().unwrap().iter().all(|c| c["code"].is_u64()));
    assert_eq!(v[1]["announced"], serde_json::json!(["192.0.2.64/26"]));
    assert_eq!(v[1]["as_path"], serde_json::json!([64496]));
    assert_eq!(v[1]["next_hop"], "192.0.2.1");
    assert_eq!(v[1]["communities"], serde_json::json!(["64496:100", "65535:65281"]));
    assert_eq!(v[1]["large_communities"], serde_json::json!(["64496:1:2", "4200000001:7:8"]));
    assert_eq!(v[1]["end_of_rib"], false);
    assert_eq!((v[2]["code"].as_u64(), v[2]["subcode"].as_u64()), (Some(6), Some(2)));
    assert!(v[2]["data"].as_str().unwrap().starts_with("34"));
    assert_eq!((v[4]["afi"].as_u64(), v[4]["safi"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v[5]["end_of_rib"], true);
    assert_eq!(v[5]["withdrawn"], serde_json::json!([]));
}

#[test]
fn binary_stream_with_a_bad_message_exits_1_and_goes_on() {
    let mut bin = Vec::new();
    bin.extend(anycastd::wire::unhex(&fixture_hex("keepalive-gobgp")).unwrap());
    // An UPDATE whose ORIGIN is 3 (treat-as-withdraw) and one with a NLRI /33 (session reset).
    bin.extend(
        anycastd::wire::unhex(
            "ffffffffffffffffffffffffffffffff002f020000001440010103400206020100000001400304c000020118cb0071",
        )
        .unwrap(),
    );
    bin.extend(anycastd::wire::unhex("ffffffffffffffffffffffffffffffff001c02000000002101020304").unwrap());
    bin.extend(anycastd::wire::unhex(&fixture_hex("keepalive-gobgp")).unwrap());
    let dir = std::env::temp_dir().join(format!("acd-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("stream.bin");
    std::fs::write(&f, &bin).unwrap();
    let (v, code) = run(&["decode", f.to_str().unwrap()], b"");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1);
    let types: Vec<&str> = v.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["KEEPALIVE", "ERROR", "ERROR", "KEEPALIVE"]);
    assert_eq!((v[1]["code"].as_u64(), v[1]["subcode"].as_u64()), (Some(3), Some(6)));
    assert_eq!(v[1]["action"], "treat-as-withdraw");
    assert_eq!((v[2]["code"].as_u64(), v[2]["subcode"].as_u64()), (Some(3), Some(10)));
    assert_eq!(v[2]["action"], "session-reset");
    assert!(v[2]["reason"].as_str().unwrap().contains("33"));
}

#[test]
fn two_octet_as_option_changes_the_as_path() {
    let hex = fixture_hex("update-as4-path-on-2byte-session");
    let (v, code) = run(&["decode", "--hex", "--four-octet-as=false", "-"], hex.as_bytes());
    assert_eq!(code, 0);
    assert_eq!(v[0]["as_path"], serde_json::json!([200, 1, 222222, 333333, 4294967290u64]));
    // Read as 4-octet, the same octets are a malformed AS_PATH.
    let (v, code) = run(&["decode", "--hex", "-"], hex.as_bytes());
    assert_eq!(code, 1);
    assert_eq!(v[0]["subcode"], 11);
}

#[test]
fn not_hex_is_reported_per_line() {
    let (v, code) = run(&["decode", "--hex", "-"], b"zz\n");
    assert_eq!(code, 1);
    assert_eq!(v[0]["type"], "ERROR");
    assert_eq!(v[0]["line"], 1);
}

/// The lab captures (fixtures/lab/): each message `decode --pcap` finds, in capture order, by
/// type, as tshark 4.0.17 dissects the same files (`tshark -r F -Y bgp -T fields -e bgp.type`:
/// 1 OPEN, 2 UPDATE, 3 NOTIFICATION, 4 KEEPALIVE, 5 ROUTE-REFRESH).
const LAB_PCAPS: [(&str, &str); 3] = [
    ("bird-2.0.12-gobgp-session.pcap", "1 1 4 4 2 2 2 2 4 4 2 2 5 5 3"),
    ("frr-8.4.4-anycastd-session.pcap", "1 1 4 4 2 2 2 2 2 2 4 4 2 2 5 5 5 2 5 5 2 5 2 2 2 2 4 3"),
    ("gobgp-3.10.0-anycastd-session.pcap", "1 1 4 4 2 2 2 2 2 2 4 4 2 2 3"),
];

fn type_code(t: &str) -> &'static str {
    match t {
        "OPEN" => "1",
        "UPDATE" => "2",
        "NOTIFICATION" => "3",
        "KEEPALIVE" => "4",
        "ROUTE_REFRESH" => "5",
        _ => "?",
    }
}

fn run_all(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_anycastd")).args(args).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (text(out.stdout), text(out.stderr), out.status.code().unwrap())
}

#[test]
fn pcap_of_real_sessions_gives_every_message_as_tshark_and_as_the_extracted_fixtures() {
    let lab = format!("{}/fixtures/lab", env!("CARGO_MANIFEST_DIR"));
    for (file, tshark) in LAB_PCAPS {
        let path = format!("{lab}/{file}");
        let (out, err, code) = run_all(&["decode", "--pcap", &path]);
        assert_eq!(code, 0, "{file}: {err}");
        assert_eq!(err, "", "{file}: a whole capture has nothing missing");
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let types: Vec<&str> = lines.iter().map(|v| type_code(v["type"].as_str().unwrap())).collect();
        assert_eq!(types.join(" "), tshark, "{file}");
        // Each message extracted (independently of anycastd) into a fixture: at its frame, in
        // its direction, decoded exactly as `decode --hex` decodes its octets.
        let mut checked = 0;
        for entry in std::fs::read_dir(&lab).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let fx: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let origin = &fx["origin"];
            if origin["path"].as_str() != Some(&format!("fixtures/lab/{file}")) {
                continue;
            }
            // "192.0.2.1.179 -> 192.0.2.11.36721": tcpdump's address.port.
            let (src, _) = origin["direction"].as_str().unwrap().split_once(" -> ").unwrap();
            let (ip, port) = src.rsplit_once('.').unwrap();
            let src = format!("{ip}:{port}");
            let at_frame: Vec<&Value> =
                lines.iter().filter(|v| v["frame"] == origin["frame"] && v["src"] == src.as_str()).collect();
            let index = origin["message_index_in_frame"].as_u64().unwrap() as usize;
            let mut got = at_frame.get(index).copied().unwrap_or_else(|| panic!("{}: not found", p.display())).clone();
            for k in ["frame", "src", "dst", "offset"] {
                got.as_object_mut().unwrap().remove(k);
            }
            let (mut want, code) = run(&["decode", "--hex", "-"], fx["hex"].as_str().unwrap().as_bytes());
            assert_eq!(code, 0);
            let mut want = want.remove(0);
            for k in ["offset", "line"] {
                want.as_object_mut().unwrap().remove(k);
            }
            assert_eq!(got, want, "{}", p.display());
            checked += 1;
        }
        assert!(checked >= 6, "{file}: only {checked} fixtures");
    }
}

#[test]
fn pcap_exit_statuses() {
    let lab = format!("{}/fixtures/lab", env!("CARGO_MANIFEST_DIR"));
    let frr = format!("{lab}/frr-8.4.4-anycastd-session.pcap");
    // Not a capture: 2, with the reason.
    let (_, err, code) = run_all(&["decode", "--pcap", &format!("{lab}/open-frr-lab.json")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
    let (_, err, code) = run_all(&["decode", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(code, 2, "{err}");
    // No BGP on that port: 1, and it says where to look.
    let (out, err, code) = run_all(&["decode", "--pcap", &frr, "--port", "1790"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("no BGP message in 45 packets"), "{err}");
    // A capture cut short: what is there decodes, the cut is said.
    let data = std::fs::read(&frr).unwrap();
    let cut = std::env::temp_dir().join(format!("acd-decode-cut-{}.pcap", std::process::id()));
    // Frame 41 (the NOTIFICATION) is the record at octet 5023, 16 + 136 long: cut inside it.
    assert_eq!(data.len(), 5535);
    std::fs::write(&cut, &data[..5023 + 16 + 100]).unwrap();
    let (out, err, code) = run_all(&["decode", "--pcap", cut.to_str().unwrap()]);
    let _ = std::fs::remove_file(&cut);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 27, "the last message (the NOTIFICATION) is cut off");
    assert!(err.contains("ends inside a record"), "{err}");
    // A capture given as a plain FILE is read as one, and says so.
    let (out, err, code) = run_all(&["decode", &frr]);
    assert_eq!((code, out.lines().count()), (0, 28), "{err}");
    assert!(err.contains("is a packet capture: decoding it as with --pcap"), "{err}");
    // --pcap with --hex or a file: a usage error.
    assert_eq!(run_all(&["decode", "--pcap", &frr, "--hex"]).2, 64);
    assert_eq!(run_all(&["decode", "--pcap", &frr, "x.bin"]).2, 64);
    assert_eq!(run_all(&["decode", "--port", "179", "x.bin"]).2, 64);
}
