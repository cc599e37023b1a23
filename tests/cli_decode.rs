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
