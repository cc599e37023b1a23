//! `anycastd md5 verify --pcap FILE --key KEY|--key-file PATH [--json]`: reads the capture and
//! the key, runs [`crate::md5verify`], and says per flow which side signs with which key.
//! Exit status: 0 every signed segment valid, 1 a failure found, 2 unreadable input.

use super::Outcome;
use std::path::Path;

pub fn verify(pcap: &Path, key: Option<String>, key_file: Option<&Path>, json: bool) -> Outcome {
    let fail = |msg: String| Outcome::err(2, format!("md5 verify: {msg}"));
    let key = match (key, key_file) {
        (Some(k), _) => k.into_bytes(),
        (None, Some(f)) => match std::fs::read(f) {
            Ok(mut k) => {
                if k.last() == Some(&b'\n') {
                    k.pop();
                }
                k
            }
            Err(e) => return fail(format!("cannot read key file {}: {e}", f.display())),
        },
        (None, None) => return fail("give the key with --key KEY or --key-file PATH".into()),
    };
    let data = match std::fs::read(pcap) {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot read {}: {e}", pcap.display())),
    };
    match crate::md5verify::verify_pcap(&data, &key) {
        Ok(report) => {
            let text = if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => s,
                    Err(e) => return fail(e.to_string()),
                }
            } else {
                report.to_string().trim_end().to_string()
            };
            Outcome { stdout: format!("{text}\n"), stderr: String::new(), code: if report.passed { 0 } else { 1 } }
        }
        Err(e) => fail(format!("{}: {e}", pcap.display())),
    }
}
