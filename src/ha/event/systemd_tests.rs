//! `systemd` checks against interop/tools/systemd_double.py: a test double of systemd's D-Bus
//! objects on a private dbus-daemon (systemd itself cannot run here). Needs Debian's
//! dbus-daemon, python3-dbus and python3-gi; without them these tests fail, unless
//! `ANYCASTD_TEST_UNPRIVILEGED=1` lets them skip.

use super::systemd::{probe_at, watch_at, RETRY};
use super::test_util::print_latency;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const PYTHON: &str = "/usr/bin/python3";
const T: Duration = Duration::from_secs(2);

/// A fresh directory for `test`, or `None` when it must skip: dbus-daemon or Debian's python3
/// D-Bus modules missing.
fn setup(test: &str) -> Option<crate::test_env::TestDir> {
    (!skip(test)).then(|| crate::test_env::fresh_dir("event", test))
}

fn skip(test: &str) -> bool {
    let has = |prog: &str, args: &[&str]| {
        std::process::Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("dbus-daemon", &["--version"]) {
        return crate::test_env::skip_missing(test, "dbus-daemon", "apt-get install dbus-daemon");
    }
    if !has(PYTHON, &["-c", "import dbus, dbus.mainloop.glib; from gi.repository import GLib"]) {
        return crate::test_env::skip_missing(test, "python3 dbus/gi", "apt-get install python3-dbus python3-gi");
    }
    false
}

/// A running double; `stop` ends it (and its dbus-daemon); dropping it (a failed test) sends
/// it SIGTERM, so that it still stops its daemon and removes its files, and SIGKILL after 2 s.
struct Double {
    child: Child,
    stdin: ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
    address: String,
}

impl Double {
    async fn start(socket: &Path, units: &[&str]) -> Double {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/tools/systemd_double.py");
        let mut cmd = tokio::process::Command::new(PYTHON);
        cmd.arg(script).arg("--bus").arg("--socket").arg(socket);
        for u in units {
            cmd.arg("--unit").arg(u);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systemd_double.py");
        let stdin = child.stdin.take().expect("stdin");
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let address = tokio::time::timeout(Duration::from_secs(10), out.next_line())
            .await
            .expect("the double starts within 10 s")
            .expect("read the double")
            .expect("the double prints its bus address");
        assert!(address.starts_with("unix:path="), "{address}");
        Double { child, stdin, out, address }
    }

    /// Sends `line`; the double's answer.
    async fn say(&mut self, line: &str) -> String {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.expect("write to the double");
        self.stdin.flush().await.expect("flush");
        self.answer().await
    }

    async fn answer(&mut self) -> String {
        let l = tokio::time::timeout(T, self.out.next_line()).await.expect("the double answers");
        l.expect("read the double").expect("the double is running")
    }

    async fn stop(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = self.stdin.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        for _ in 0..20 {
            if self.child.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn probe_says_active_inactive_failed_and_unknown() {
    let Some(d) = setup("probe_says_active_inactive_failed_and_unknown") else { return };
    let units = ["unbound.service=active/running", "broken.service=failed/failed", "stopped.service=inactive/dead"];
    let mut double = Double::start(&d.join("bus"), &units).await;
    let a = double.address.clone();
    assert_eq!(probe_at(&a, "unbound.service", T).await, (true, "unbound.service is active (running)".into()));
    assert_eq!(probe_at(&a, "broken.service", T).await, (false, "broken.service is failed (failed)".into()));
    assert_eq!(probe_at(&a, "stopped.service", T).await, (false, "stopped.service is inactive (dead)".into()));
    // Not loaded: LoadUnit loads it as not-found.
    assert_eq!(probe_at(&a, "nosuch.service", T).await, (false, "nosuch.service: no such unit (not-found)".into()));
    let (ok, detail) = probe_at(&a, "no-suffix", T).await;
    assert!(!ok && detail.contains("InvalidArgs") && detail.contains("no-suffix"), "{detail}");
    for (state, ok) in [("reloading reload", true), ("activating start", false), ("deactivating stop", false)] {
        assert_eq!(double.say(&format!("set unbound.service {state}")).await, "ok");
        assert_eq!(probe_at(&a, "unbound.service", T).await.0, ok, "{state}");
    }
    // Bus-supplied strings are escaped.
    assert_eq!(double.say("set unbound.service \x1b[2Jodd sub\x07").await, "ok");
    let (ok, detail) = probe_at(&a, "unbound.service", T).await;
    assert!(!ok && !detail.contains('\x1b') && !detail.contains('\x07'), "{detail:?}");
    double.stop().await;

    // No bus there.
    let (ok, detail) = probe_at(&format!("unix:path={}", d.join("none").display()), "unbound.service", T).await;
    assert!(!ok && detail.starts_with("cannot reach the system bus: "), "{detail}");
    // A socket that never answers: bounded by the timeout.
    let _mute = std::os::unix::net::UnixListener::bind(d.join("mute")).expect("bind a mute socket");
    let t = Instant::now();
    let (ok, detail) =
        probe_at(&format!("unix:path={}", d.join("mute").display()), "unbound.service", Duration::from_millis(300))
            .await;
    assert!(!ok && detail.contains("timed out after 300 ms"), "{detail}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test]
async fn watcher_fails_within_100_ms_of_the_unit_stopping() {
    let Some(d) = setup("watcher_fails_within_100_ms_of_the_unit_stopping") else { return };
    let mut double =
        Double::start(&d.join("bus"), &["unbound.service=active/running", "other.service=active/running"]).await;
    let mut w = watch_at(double.address.clone(), "unbound.service");
    // The initial wake: subscribed, matches in place.
    let first = tokio::time::timeout(T, w.next()).await.expect("initial wake");
    assert_eq!(first.outcome, None);
    assert_eq!(double.say("subscribers").await, "1", "the watcher subscribes");
    // Another unit's signals do not wake.
    assert_eq!(double.say("set other.service inactive dead").await, "ok");
    assert!(tokio::time::timeout(Duration::from_millis(100), w.next()).await.is_err(), "woke for another unit");
    let mut lat = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        double.stdin.write_all(b"set unbound.service inactive dead\n").await.expect("write");
        double.stdin.flush().await.expect("flush");
        let wake =
            tokio::time::timeout(Duration::from_millis(100), w.next()).await.expect("a wake within 100 ms of the stop");
        lat.push(t.elapsed());
        let o = wake.outcome.expect("the signal's own outcome, not a probe");
        assert!(!o.ok && o.detail.starts_with("unbound.service is inactive (dead)"), "{o:?}");
        assert_eq!(double.answer().await, "ok");
        // Starting again wakes the probe (no outcome of its own).
        assert_eq!(double.say("set unbound.service active running").await, "ok");
        let wake = tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("a wake on start");
        assert_eq!(wake.outcome, None);
    }
    print_latency("systemd set inactive -> wake", &mut lat);
    drop(w);
    double.stop().await;
}

#[tokio::test]
async fn watcher_reconnects_when_the_bus_comes_back() {
    let Some(d) = setup("watcher_reconnects_when_the_bus_comes_back") else { return };
    let socket = d.join("bus");
    let address = format!("unix:path={}", socket.display());
    // No bus yet: the watcher retries every RETRY, without waking the check.
    let mut w = watch_at(address.clone(), "unbound.service");
    assert!(tokio::time::timeout(Duration::from_millis(300), w.next()).await.is_err(), "woke without a bus");
    for round in 0..2 {
        let mut double = Double::start(&socket, &["unbound.service=active/running"]).await;
        assert_eq!(double.address.split(',').next(), Some(address.as_str()));
        let wake = tokio::time::timeout(RETRY * 3, w.next()).await.expect("connected once the bus is there");
        assert_eq!(wake.outcome, None, "round {round}");
        assert_eq!(double.say("subscribers").await, "1", "round {round}");
        assert_eq!(double.say("set unbound.service failed failed").await, "ok");
        let wake =
            tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("the stop after reconnecting");
        assert!(wake.outcome.is_some_and(|o| !o.ok), "round {round}");
        // systemd restarts (its subscriptions gone): the watcher wakes and subscribes again.
        assert_eq!(double.say("restart").await, "ok");
        let wake = tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("a wake on the restart");
        assert_eq!(wake.outcome, None);
        let mut subscribed = false;
        for _ in 0..30 {
            if double.say("subscribers").await == "1" {
                subscribed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(subscribed, "subscribed again within 3 s of the restart");
        while tokio::time::timeout(Duration::from_millis(50), w.next()).await.is_ok() {}
        assert_eq!(double.say("set unbound.service inactive dead").await, "ok");
        let wake =
            tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("the stop after the restart");
        assert!(wake.outcome.is_some_and(|o| !o.ok), "round {round}");
        // The bus goes away; the watcher goes back to retrying.
        double.stop().await;
        while tokio::time::timeout(Duration::from_millis(200), w.next()).await.is_ok() {}
    }
}
