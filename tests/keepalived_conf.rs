//! The shipped `configs/keepalived.conf` passes keepalived's own checker (`keepalived -t`),
//! rendered for this machine: the built binary instead of /usr/sbin/anycastd (keepalived
//! disables a track script it cannot find) and an interface that exists instead of eth0. A
//! copy with a misspelt keyword must fail the same checker, so the check can fail. Skipped
//! (with a note) where keepalived is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");

fn keepalived() -> Option<PathBuf> {
    ["/usr/sbin/keepalived", "/usr/bin/keepalived"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

/// A non-loopback interface of this machine (keepalived -t wants the interface to exist).
fn an_interface() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names.into_iter().next()
}

fn check(ka: &Path, text: &str, tag: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!("acd-keepalived-{tag}-{}.conf", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(ka).arg("-t").arg("-f").arg(&path).output().unwrap();
    let _ = std::fs::remove_file(&path);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

#[test]
fn the_shipped_keepalived_conf_passes_keepalived_t() {
    let Some(ka) = keepalived() else {
        assert!(anycastd::test_env::skip_missing("keepalived_conf", "keepalived", "apt-get install keepalived"));
        return;
    };
    let Some(ifname) = an_interface() else {
        eprintln!("skipped: no network interface but lo");
        return;
    };
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/keepalived.conf")).unwrap();
    for want in [
        "script_user root",
        "enable_script_security",
        "vrrp_notify_fifo /run/anycastd/keepalived.fifo",
        "vrrp_notify_fifo_script \"/usr/sbin/anycastd notify-fifo\"",
        "script \"/usr/sbin/anycastd check --quiet\"",
        "file \"/run/anycastd/track\"",
        "track_script {",
        "track_file {",
        "notify_stop",
    ] {
        assert!(shipped.contains(want), "configs/keepalived.conf lacks {want:?}");
    }
    let text = shipped.replace("/usr/sbin/anycastd", BIN).replace("eth0", &ifname);
    let (ok, said) = check(&ka, &text, "good");
    assert!(ok, "keepalived -t rejects configs/keepalived.conf (as rendered here):\n{said}");
    // The checker does check: a misspelt keyword fails it.
    let bad = text.replace("vrrp_notify_fifo_script", "vrrp_notify_fifo_scrip");
    let (ok, said) = check(&ka, &bad, "bad");
    assert!(!ok && said.contains("Unknown keyword"), "keepalived -t passed a misspelt keyword:\n{said}");
}
