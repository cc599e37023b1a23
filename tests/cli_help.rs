//! Every subcommand has complete help; the man page and completions are generated from clap.

use std::process::Command;

fn run(args: &[&str]) -> (String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_anycastd")).args(args).output().unwrap();
    (String::from_utf8_lossy(&o.stdout).into_owned(), o.status.code().unwrap_or(-1))
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        &["run"][..],
        &["status"],
        &["notify"],
        &["drain"],
        &["undrain"],
        &["check"],
        &["reload"],
        &["neighbor"],
        &["bgp", "set"],
        &["bgp", "show"],
        &["bgp", "unset"],
        &["check-config"],
        &["decode"],
        &["md5", "verify"],
        &["completions"],
        &["man"],
    ] {
        let (out, code) = run(&[sub, &["--help"]].concat());
        assert_eq!(code, 0, "{sub:?}");
        assert!(out.contains("Usage: anycastd"), "{sub:?}: {out}");
    }
    let (out, _) = run(&["bgp", "set", "--help"]);
    for flag in [
        "--local_ip",
        "--anycast_ip",
        "--remote_ip",
        "--local_as",
        "--remote_as",
        "--local_router_id",
        "--md5",
        "--md5-file",
        "--bfd-interval-ms",
        "--bfd-multiplier",
        "local-ip",
    ] {
        assert!(out.contains(flag), "bgp set --help lacks {flag}");
    }
    let (out, _) = run(&["neighbor", "--help"]);
    for word in ["reset", "disable", "enable", "Administrative Reset", "Administrative Shutdown", "AdminDown"] {
        assert!(out.contains(word), "neighbor --help lacks {word}: {out}");
    }
    assert!(run(&["status", "--help"]).0.contains("--neighbor <IP>"));
    assert!(run(&["decode", "--help"]).0.contains("--pcap <FILE>"));
}

#[test]
fn man_page_and_completions() {
    let (man, code) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(man.contains(".TH anycastd 8") && man.contains("status"), "{man}");
    for shell in ["bash", "zsh", "fish"] {
        let (c, code) = run(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(c.contains("check-config"), "{shell}");
    }
}

/// `man --dir` (packaging/build.sh): every `anycastd-…(8)` a page names, the top page's
/// subcommands and theirs (`anycastd-bgp` → `anycastd-bgp-set`), is a page in the directory.
#[test]
fn man_dir_writes_every_page_the_pages_name() {
    let dir = std::env::temp_dir().join(format!("anycastd-man-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (_, code) = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0);
    let read = |name: &str| {
        let page = std::fs::read_to_string(dir.join(format!("{name}.8"))).unwrap_or_default();
        page.replace("\\-", "-")
    };
    let mut todo = vec!["anycastd".to_string()];
    let mut seen = Vec::new();
    while let Some(name) = todo.pop() {
        let page = read(&name);
        assert!(page.contains(&format!(".TH {name} 8")), "{name}.8 missing or not section 8: {page:.200}");
        for (at, _) in page.match_indices("anycastd-") {
            let named = &page[at..];
            if let Some(end) = named.find("(8)") {
                let named = &named[..end];
                if !seen.iter().any(|s| s == named) && !named.contains(char::is_whitespace) {
                    seen.push(named.to_string());
                    todo.push(named.to_string());
                }
            }
        }
    }
    for name in ["anycastd-status", "anycastd-check-config", "anycastd-bgp-set", "anycastd-md5-verify"] {
        assert!(seen.iter().any(|s| s == name), "{name} not named: {seen:?}");
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, seen.len() + 1, "a page nobody names, or clap's help: {seen:?}");
    assert!(!dir.join("anycastd-help.8").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_64_not_2_which_means_the_daemon_is_unreachable() {
    for args in [
        &["status", "--no-such-flag"][..],
        &["no-such-command"],
        &["drain", "--seconds", "x"],
        &[],
        &["status", "--neighbor", "not-an-ip"],
        &["neighbor", "reset", "192.0.2.300"],
        &["neighbor", "reboot", "192.0.2.1"],
        &["neighbor", "reset"],
        &["decode", "--pcap", "x.pcap", "--hex"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_anycastd")).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error: ") || err.contains("Usage: anycastd"), "{args:?}: {err}");
    }
    // --help and --version are not errors.
    assert_eq!(run(&["--version"]).1, 0);
    assert_eq!(run(&["status", "--help"]).1, 0);
}
