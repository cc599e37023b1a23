//! `tcp_ao = { … }` of a neighbor (issue 16 item 4): parsed into a [`TcpAo`] (the key never
//! shown), refused together with `md5`, and located by [`Config::unsupported`] for
//! `check-config`.

use super::*;

fn with(table: &str) -> String {
    MINIMAL.replace("remote_as = 65000", &format!("remote_as = 65000\n{table}"))
}

#[test]
fn tcp_ao_parses_inline_and_as_a_table() {
    let c =
        parse(&with("tcp_ao = { send_id = 3, recv_id = 4, key = \"s3cret-ao\" }")).unwrap_or_else(|e| panic!("{e}"));
    let ao = c.bgp.neighbors[0].tcp_ao.clone().expect("tcp_ao");
    assert_eq!((ao.send_id, ao.recv_id, ao.algorithm), (3, 4, TcpAoAlgorithm::HmacSha1));
    assert!(!format!("{c:?}").contains("s3cret-ao"));
    let table = "[bgp.neighbor.tcp_ao]\nsend_id = 1\nrecv_id = 1\nalgorithm = \"aes-128-cmac\"\nkey = \"k\"\n";
    let c = parse(&MINIMAL.replace("\n[anycast]", &format!("{table}\n[anycast]"))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bgp.neighbors[0].tcp_ao.as_ref().map(|a| a.algorithm), Some(TcpAoAlgorithm::Aes128Cmac));
}

#[test]
fn tcp_ao_errors_are_located_and_never_show_the_key() {
    let e = errors(&with("md5 = \"s3cret\"\ntcp_ao = { send_id = 1, recv_id = 1, key = \"s3cret-ao\" }"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("{FILE}:9:10: bgp.neighbor[0].tcp_ao = <redacted>: cannot be combined with md5")),
        "{e:?}"
    );
    let e = errors(&with("tcp_ao = { recv_id = 1, algorithm = \"sha1\", key = \"s3cret-ao\" }"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().any(|l| l.contains("bgp.neighbor[0].tcp_ao.send_id: missing")), "{e:?}");
    assert!(e.iter().any(|l| l.contains("must be one of hmac-sha1, aes-128-cmac, hmac-sha256")), "{e:?}");
    let e = errors(&with("tcp_ao = { send_id = 256, recv_id = 1 }"));
    assert!(e.iter().any(|l| l.contains("send_id = 256: a TCP-AO KeyID must be 0 to 255")), "{e:?}");
    assert!(e.iter().any(|l| l.contains("needs a key: add key or key_file")), "{e:?}");
    assert!(e.iter().all(|l| !l.contains("s3cret")), "{e:?}");
}

#[test]
fn unsupported_names_each_tcp_ao_neighbor_at_its_table() {
    let text = with("tcp_ao = { send_id = 1, recv_id = 1, key = \"s3cret-ao\" }");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let d = c.unsupported(Path::new(FILE), &text, "TCP-AO is not supported by this kernel");
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(shown, [format!("{FILE}:8:10: bgp.neighbor[0].tcp_ao: TCP-AO is not supported by this kernel")]);
    assert_eq!(d[0].kind, DiagnosticKind::Unsupported);
    assert!(parse(MINIMAL).unwrap_or_else(|e| panic!("{e}")).unsupported(Path::new(FILE), MINIMAL, "x").is_empty());
}
