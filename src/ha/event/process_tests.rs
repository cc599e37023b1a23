//! `process` checks: the probe, and the watcher's wake on the process's exit (pidfd), without
//! any poll.

use super::test_util::{drain, failed, print_latency, within};
use super::{process, Wake};
use crate::config::{Pattern, ProcessTarget};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// `sleep arg`, once it shows as such: right after spawn the child may still be inside exec,
/// with neither its new name nor its command line in place (waits at most 2 s).
fn sleeper(arg: &str) -> Child {
    let child = Command::new("sleep").arg(arg).spawn().expect("run sleep");
    let want = format!("sleep\0{arg}\0").into_bytes();
    let t = Instant::now();
    while std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default() != want {
        assert!(t.elapsed() < Duration::from_secs(2), "sleep {arg} not exec'd within 2 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    child
}

#[tokio::test]
async fn a_killed_pidfile_process_fails_within_100_ms() {
    let d = crate::test_env::fresh_dir("event", "process");
    let pf = d.join("svc.pid");
    let target = ProcessTarget::Pidfile(pf.clone());
    let (ok, detail) = process::probe(&target).await;
    assert!(!ok);
    assert_eq!(detail, format!("cannot read pidfile {}: No such file or directory", pf.display()));
    std::fs::write(&pf, b"garbage\n").unwrap();
    assert_eq!(process::probe(&target).await, (false, format!("pidfile {} holds no pid", pf.display())));
    let mut w = process::watch(&target).expect("a process watcher");
    within(&mut w, 2000, "initial").await;
    // Other files in the directory do not wake it.
    std::fs::write(d.join("other.pid"), b"1\n").unwrap();
    assert!(timeout(Duration::from_millis(100), w.next()).await.is_err(), "woke for another file");
    let mut lat = Vec::new();
    for _ in 0..50 {
        let mut child = sleeper("30");
        let pid = child.id();
        std::fs::write(&pf, format!("{pid}\n")).unwrap();
        // The rewrite wakes the check once the new process is watched.
        assert_eq!(within(&mut w, 500, "pidfile rewritten").await, Wake { outcome: None });
        drain(&mut w).await;
        assert_eq!(process::probe(&target).await, (true, format!("pid {pid} (sleep) runs")));
        let t = Instant::now();
        child.kill().unwrap();
        let wake = within(&mut w, 100, "kill").await;
        lat.push(t.elapsed());
        assert_eq!(failed(&wake), Some(format!("pid {pid} (sleep) exited").as_str()), "{wake:?}");
        // Not reaped yet: a zombie is not running.
        let gone = (false, format!("pid {pid} from {} is gone", pf.display()));
        assert_eq!(process::probe(&target).await, gone);
        child.wait().unwrap();
        assert_eq!(process::probe(&target).await, gone);
    }
    print_latency("process kill -> wake", &mut lat);
}

#[tokio::test]
async fn the_watcher_follows_a_rewritten_pidfile() {
    let d = crate::test_env::fresh_dir("event", "process-follow");
    let pf = d.join("svc.pid");
    let (mut a, mut b) = (sleeper("30"), sleeper("30"));
    std::fs::write(&pf, format!("{}\n", a.id())).unwrap();
    let target = ProcessTarget::Pidfile(pf.clone());
    let mut w = process::watch(&target).expect("a process watcher");
    within(&mut w, 2000, "initial").await;
    drain(&mut w).await;
    // A restart that writes its pidfile before the old process ends.
    std::fs::write(&pf, format!("{}\n", b.id())).unwrap();
    assert_eq!(within(&mut w, 500, "pidfile rewritten").await, Wake { outcome: None });
    drain(&mut w).await;
    a.kill().unwrap();
    a.wait().unwrap();
    assert!(timeout(Duration::from_millis(200), w.next()).await.is_err(), "woke for the old process");
    assert_eq!(process::probe(&target).await, (true, format!("pid {} (sleep) runs", b.id())));
    b.kill().unwrap();
    let wake = within(&mut w, 100, "kill of the new process").await;
    assert_eq!(failed(&wake), Some(format!("pid {} (sleep) exited", b.id()).as_str()), "{wake:?}");
    b.wait().unwrap();
}

#[tokio::test]
async fn a_full_pattern_matches_the_command_line() {
    let arg = format!("29.{}", std::process::id());
    let regex = format!("^sleep {}$", regex_lite::escape(&arg));
    let full = ProcessTarget::Pattern { regex: Pattern::new(&regex).unwrap(), full: true };
    let name_only = ProcessTarget::Pattern { regex: Pattern::new(&regex).unwrap(), full: false };
    assert!(!process::probe(&full).await.0, "matched before the process runs");
    let mut child = sleeper(&arg);
    let pid = child.id();
    assert_eq!(process::probe(&full).await, (true, format!("pid {pid} (sleep) runs")));
    // Without `full` only the name ("sleep") is matched.
    let (ok, detail) = process::probe(&name_only).await;
    assert!(!ok && detail.starts_with("no process name matches "), "{detail}");
    let mut w = process::watch(&full).expect("a process watcher");
    within(&mut w, 2000, "initial").await;
    drain(&mut w).await;
    let t = Instant::now();
    child.kill().unwrap();
    let wake = within(&mut w, 100, "kill").await;
    eprintln!("pattern: kill -> wake {:?}", t.elapsed());
    assert_eq!(failed(&wake), Some(format!("pid {pid} (sleep) exited").as_str()), "{wake:?}");
    // A zombie does not match.
    let (ok, detail) = process::probe(&full).await;
    assert!(!ok && detail.starts_with("no process command line matches "), "{detail}");
    child.wait().unwrap();
}

#[tokio::test]
async fn a_pattern_stays_healthy_while_another_process_matches() {
    let arg = format!("28.{}", std::process::id());
    let target = ProcessTarget::Pattern {
        regex: Pattern::new(&format!("^sleep {}$", regex_lite::escape(&arg))).unwrap(),
        full: true,
    };
    let (mut a, mut b) = (sleeper(&arg), sleeper(&arg));
    let mut w = process::watch(&target).expect("a process watcher");
    within(&mut w, 2000, "initial").await;
    drain(&mut w).await;
    // Whichever is watched, one exit leaves a match: no failure.
    a.kill().unwrap();
    a.wait().unwrap();
    while let Ok(wake) = timeout(Duration::from_millis(200), w.next()).await {
        assert_eq!(failed(&wake), None, "failed while {} still matches", b.id());
    }
    b.kill().unwrap();
    let wake = within(&mut w, 100, "kill of the last match").await;
    assert_eq!(failed(&wake), Some(format!("pid {} (sleep) exited", b.id()).as_str()), "{wake:?}");
    b.wait().unwrap();
}
