//! The controller end to end on this machine: real probes and files, short real intervals
//! (each test well under a second) or tokio's paused clock for the drain timer.

use super::*;
use crate::config::Probe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex as StdMutex;
use tokio::time::timeout;

fn tmpdir(tag: &str) -> crate::test_env::TestDir {
    crate::test_env::fresh_dir("ha", tag)
}

pub(super) fn cfg(dir: &std::path::Path, role: RoleSource, checks: Vec<HealthCheck>) -> HaConfig {
    HaConfig {
        service: crate::config::DEFAULT_SERVICE.into(),
        prefixes: vec!["203.0.113.124/32".parse().unwrap()],
        standby: Standby::Withdraw,
        role,
        checks,
        state_dir: dir.to_path_buf(),
        track: None,
        preference: None,
    }
}

fn check(name: &str, probe: Probe, interval_ms: u64) -> HealthCheck {
    HealthCheck {
        name: name.into(),
        probe,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms.min(1000)),
        rise: 1,
        fall: 1,
    }
}

async fn wait_for(rx: &mut watch::Receiver<Decision>, state: AdvertState) -> Decision {
    let found = timeout(Duration::from_secs(2), rx.wait_for(|d| d.state == state)).await;
    found.expect("state reached within 2 s").expect("controller alive").clone()
}

#[tokio::test]
async fn file_check_drives_the_decision_and_the_hook_sees_it_first() {
    let dir = tmpdir("file");
    let flag = dir.join("up");
    let seen: Arc<StdMutex<Vec<AdvertState>>> = Arc::default();
    let s2 = seen.clone();
    let hook: DecisionHook = Arc::new(move |d| s2.lock().unwrap().push(d.state));
    let probe = Probe::File { path: flag.clone(), invert: false };
    let ha = HaController::start(cfg(&dir, RoleSource::Static, vec![check("up", probe, 50)]), Some(hook));
    let mut rx = ha.subscribe();
    assert_eq!(rx.borrow().state, AdvertState::Withdrawn);
    assert!(rx.borrow().reason.starts_with("not advertising 203.0.113.124/32"));

    let t = std::time::Instant::now();
    std::fs::write(&flag, "").unwrap();
    let d = wait_for(&mut rx, AdvertState::Advertising).await;
    let up = t.elapsed();
    assert_eq!(d.reason, "advertising 203.0.113.124/32: primary (static) and check `up` healthy");

    let t = std::time::Instant::now();
    std::fs::remove_file(&flag).unwrap();
    let d = wait_for(&mut rx, AdvertState::Withdrawn).await;
    let down = t.elapsed();
    // The result that caused it is still fresh when the subscriber wakes.
    let age = ha.status().checks[0].age_ms.unwrap();
    assert_eq!(d.reason, format!("withdrawing 203.0.113.124/32: check `up` failed 1/1: {} is missing", flag.display()));
    assert!(up < Duration::from_millis(300) && down < Duration::from_millis(300), "up {up:?} down {down:?}");
    assert!(age < 20, "result → subscriber {age} ms");
    eprintln!(
        "interval 50 ms: flag → advertise {up:?}, flag removed → withdraw {down:?}, result → subscriber {age} ms"
    );
    assert_eq!(*seen.lock().unwrap(), vec![AdvertState::Withdrawn, AdvertState::Advertising, AdvertState::Withdrawn]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn keepalived_notify_applies_at_once_and_survives_restart() {
    let dir = tmpdir("ka");
    let path = dir.join("role");
    let c = cfg(&dir, RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())), vec![]);
    let ha = HaController::start(c.clone(), None);
    let out = ha.notify_keepalived("MASTER").await.unwrap();
    assert_eq!(out.decision.state, AdvertState::Advertising);
    assert_eq!(out.decision.reason, "advertising 203.0.113.124/32: primary (keepalived MASTER) and no health checks");
    assert_eq!(out.warning, None);
    assert!(ha.notify_keepalived("PRIMARY").await.unwrap_err().contains("unknown keepalived state"));
    drop(ha);

    let ha = HaController::start(c.clone(), None);
    let mut rx = ha.subscribe();
    wait_for(&mut rx, AdvertState::Advertising).await;
    let d = ha.notify_keepalived("FAULT").await.unwrap().decision;
    assert_eq!(d.state, AdvertState::Withdrawn);
    assert_eq!(d.reason, "withdrawing 203.0.113.124/32: role unknown (keepalived FAULT)");
    assert_eq!(ha.status().role, Role::Unknown);
    drop(ha);

    let ha = HaController::start(cfg(&dir, RoleSource::Static, vec![]), None);
    assert!(ha.notify_keepalived("MASTER").await.unwrap_err().contains("not keepalived"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn drain_is_saved_and_resumed_after_restart() {
    let dir = tmpdir("drain");
    let c = cfg(&dir, RoleSource::Static, vec![]);
    let ha = HaController::start(c.clone(), None);
    let mut rx = ha.subscribe();
    wait_for(&mut rx, AdvertState::Advertising).await;
    let out = ha.drain(30).await;
    assert_eq!(out.decision.state, AdvertState::Draining);
    assert_eq!(out.decision.communities, vec![crate::wire::community::Community::GRACEFUL_SHUTDOWN.to_string()]);
    assert!(std::fs::read_to_string(dir.join("drain")).unwrap().starts_with("draining until "));
    drop(ha);

    let ha = HaController::start(c.clone(), None);
    let mut rx = ha.subscribe();
    wait_for(&mut rx, AdvertState::Draining).await;
    let left = ha.status().drain.remaining_ms.unwrap();
    assert!((28_000..=30_000).contains(&left), "{left}");
    assert_eq!(ha.undrain().await.decision.state, AdvertState::Advertising);
    assert!(!dir.join("drain").exists());
    let out = ha.drain(0).await;
    assert_eq!(out.decision.state, AdvertState::Withdrawn);
    assert_eq!(std::fs::read_to_string(dir.join("drain")).unwrap(), "drained\n");
    drop(ha);

    let ha = HaController::start(c, None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ha.current().state, AdvertState::Withdrawn);
    assert_eq!(ha.status().drain.state, super::status::DrainState::Drained);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn drain_withdraws_when_its_time_is_up() {
    let dir = tmpdir("drain-timer");
    let ha = HaController::start(cfg(&dir, RoleSource::Static, vec![]), None);
    let mut rx = ha.subscribe();
    wait_for(&mut rx, AdvertState::Advertising).await;
    let start = tokio::time::Instant::now();
    ha.drain(5).await;
    // Virtual time: the 10 s limit only has to come after the 5 s drain.
    let d = timeout(Duration::from_secs(10), rx.wait_for(|d| d.state == AdvertState::Withdrawn));
    let d = d.await.expect("withdrawn within 10 s").expect("controller alive").clone();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(d.reason, "withdrawing 203.0.113.124/32: drained by operator (undrain to resume)");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn check_now_runs_every_check_and_counts_the_results() {
    let dir = tmpdir("check-now");
    let argv = |s: &str| Probe::Exec { argv: vec!["/bin/sh".into(), "-c".into(), s.into()] };
    let checks =
        vec![check("ok", argv("echo fine"), 86_400_000), check("bad", argv("echo no >&2; exit 4"), 86_400_000)];
    let ha = HaController::start(cfg(&dir, RoleSource::Static, checks), None);
    let reports = ha.check_now().await;
    let got: Vec<(&str, bool, &str)> = reports.iter().map(|r| (r.name.as_str(), r.ok, r.detail.as_str())).collect();
    assert_eq!(got, vec![("ok", true, "fine"), ("bad", false, "exit 4: no")]);
    let st = ha.status();
    assert!(st.checks[0].consecutive_ok >= 1);
    assert!(st.checks[1].consecutive_fail >= 1);
    assert_eq!(st.checks[1].detail.as_deref(), Some("exit 4: no"));
    assert_eq!(st.advert_state, AdvertState::Withdrawn);
    assert!(st.reason.contains("check `bad`"), "{}", st.reason);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file writer that blocks in its first write until the test opens the gate (at most 5 s),
/// reporting on `started` when it begins: a disk that hangs on fsync.
struct SlowDisk {
    gate: std::sync::mpsc::Sender<()>,
    started: mpsc::UnboundedReceiver<()>,
    finished: Arc<AtomicBool>,
}

fn slow_disk() -> (persist::WriteFn, SlowDisk) {
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let gate_rx = StdMutex::new(Some(gate_rx));
    let (started_tx, started) = mpsc::unbounded_channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f2 = finished.clone();
    let w: persist::WriteFn = Arc::new(move |path: &std::path::Path, bytes: Option<&[u8]>| {
        let _ = started_tx.send(());
        if let Some(rx) = gate_rx.lock().unwrap().take() {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
        let r = persist::write_file(path, bytes);
        f2.store(true, Ordering::SeqCst);
        r
    });
    (w, SlowDisk { gate, started, finished })
}

#[tokio::test]
async fn notify_applies_before_a_slow_save_and_the_runtime_keeps_running() {
    let dir = tmpdir("slow-disk");
    let path = dir.join("role");
    let (w, mut disk) = slow_disk();
    let finished = disk.finished.clone();
    let seen: Arc<StdMutex<Vec<(AdvertState, bool)>>> = Arc::default();
    let s2 = seen.clone();
    let hook: DecisionHook = Arc::new(move |d| s2.lock().unwrap().push((d.state, finished.load(Ordering::SeqCst))));
    let c = cfg(&dir, RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())), vec![]);
    let ha = Arc::new(HaController::start_with(c, Some(hook), Persister::with_writer(w)));
    let mut rx = ha.subscribe();
    let h2 = ha.clone();
    let t = std::time::Instant::now();
    let notify = tokio::spawn(async move { h2.notify_keepalived("MASTER").await });
    wait_for(&mut rx, AdvertState::Advertising).await;
    let applied = t.elapsed();
    timeout(Duration::from_secs(2), disk.started.recv()).await.expect("the save started").unwrap();
    // The save is stuck in fsync, yet timers and other tasks run on this (only) thread.
    let ticked = timeout(Duration::from_secs(1), tokio::time::sleep(Duration::from_millis(20))).await;
    assert!(ticked.is_ok() && !disk.finished.load(Ordering::SeqCst), "the runtime stalled during the save");
    assert_eq!(*seen.lock().unwrap(), vec![(AdvertState::Withdrawn, false), (AdvertState::Advertising, false)]);
    disk.gate.send(()).unwrap();
    let out = timeout(Duration::from_secs(2), notify).await.expect("answered").unwrap().unwrap();
    assert_eq!(out.warning, None);
    assert_eq!(out.decision.state, AdvertState::Advertising);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("MASTER\nboot_id "));
    eprintln!("notify → speaker's decision {applied:?} while the save was still blocked");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Real time (2 s): tokio's paused clock does not advance while a blocking write runs.
#[tokio::test]
async fn a_save_slower_than_the_bound_is_answered_with_a_warning() {
    let dir = tmpdir("slow-warn");
    let (w, mut disk) = slow_disk();
    let ha = HaController::start_with(cfg(&dir, RoleSource::Static, vec![]), None, Persister::with_writer(w));
    wait_for(&mut ha.subscribe(), AdvertState::Advertising).await;
    let out = ha.drain(30).await;
    assert_eq!(out.decision.state, AdvertState::Draining);
    let warning = out.warning.expect("a warning for a save still blocked after PERSIST_WAIT");
    assert!(warning.contains("not yet saved after 2000 ms") && warning.contains("the drain is in effect"), "{warning}");
    disk.started.recv().await.unwrap();
    disk.gate.send(()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits (polling, at most 2 s) until the decision's reason contains `needle`: a change of
/// reason alone is not published on the channel.
async fn reason_reaches(ha: &HaController, needle: &str) {
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while !ha.current().reason.contains(needle) {
        assert!(tokio::time::Instant::now() < end, "{needle:?} not reached: {}", ha.current().reason);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn two_quick_notifies_leave_the_last_applied_state_in_the_file() {
    let dir = tmpdir("order");
    let path = dir.join("role");
    let (w, mut disk) = slow_disk();
    let seen: Arc<StdMutex<Vec<AdvertState>>> = Arc::default();
    let s2 = seen.clone();
    let hook: DecisionHook = Arc::new(move |d| s2.lock().unwrap().push(d.state));
    let c = cfg(&dir, RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())), vec![]);
    let ha = Arc::new(HaController::start_with(c, Some(hook), Persister::with_writer(w)));
    let h2 = ha.clone();
    let master = tokio::spawn(async move { h2.notify_keepalived("MASTER").await });
    // MASTER's save is under way (stuck) when BACKUP arrives.
    timeout(Duration::from_secs(2), disk.started.recv()).await.expect("the save started").unwrap();
    let h3 = ha.clone();
    let backup = tokio::spawn(async move { h3.notify_keepalived("BACKUP").await });
    reason_reaches(&ha, "standby (keepalived BACKUP)").await;
    disk.gate.send(()).unwrap();
    for n in [master, backup] {
        assert_eq!(timeout(Duration::from_secs(3), n).await.expect("answered").unwrap().unwrap().warning, None);
    }
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("BACKUP\nboot_id "));
    // A later write by someone else is seen, so every earlier file event has been handled by
    // now: the stale MASTER on disk in between was never applied again.
    state::write_atomic(&path, b"FAULT\n").unwrap();
    reason_reaches(&ha, "keepalived FAULT").await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|s| **s == AdvertState::Advertising).count(), 1, "{seen:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_missing_address_seeded_at_start_is_never_announced() {
    let dir = tmpdir("seeded");
    let seen: Arc<StdMutex<Vec<AdvertState>>> = Arc::default();
    let s2 = seen.clone();
    let hook: DecisionHook = Arc::new(move |d| s2.lock().unwrap().push(d.state));
    let missing = AddressReport { missing: vec!["203.0.113.124/32".parse().unwrap()], detail: "not on lo".into() };
    let ha = HaController::start_seeded(
        cfg(&dir, RoleSource::Static, vec![]),
        Some(hook),
        Persister::start(),
        missing.clone(),
    );
    // The static role comes from a task: a bounded poll until the decider has it.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while ha.status().role != Role::Primary {
        assert!(std::time::Instant::now() < deadline, "static role not applied: {}", ha.current().reason);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(ha.current().reason, "not advertising 203.0.113.124/32: address 203.0.113.124/32 not on lo");
    assert_eq!(*seen.lock().unwrap(), vec![AdvertState::Withdrawn], "never announced");
    assert_eq!(ha.set_addresses(AddressReport::default()).state, AdvertState::Advertising);
    assert_eq!(ha.set_addresses(missing).state, AdvertState::Withdrawn);
    assert_eq!(*seen.lock().unwrap(), vec![AdvertState::Withdrawn, AdvertState::Advertising, AdvertState::Withdrawn]);
}

/// Polls (at most 2 s) until `f` holds for the status.
pub(super) async fn status_reaches(ha: &HaController, what: &str, f: impl Fn(&HaStatus) -> bool) -> HaStatus {
    let end = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let s = ha.status();
        if f(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < end, "{what} not reached: {s:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A plain `MASTER\n` (what anycastd saved before issue 12, or a state from before a reboot)
/// is stale at start: nothing is advertised. The old code honoured it.
#[tokio::test]
async fn a_saved_master_from_before_a_reboot_is_never_advertised() {
    let dir = tmpdir("stale");
    let path = dir.join("role");
    let seen: Arc<StdMutex<Vec<AdvertState>>> = Arc::default();
    for text in ["MASTER\n", "MASTER\nboot_id 00000000-0000-0000-0000-000000000000\n"] {
        std::fs::write(&path, text).unwrap();
        let s2 = seen.clone();
        let hook: DecisionHook = Arc::new(move |d| s2.lock().unwrap().push(d.state));
        let c = cfg(&dir, RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())), vec![]);
        let ha = HaController::start(c, Some(hook));
        let s = status_reaches(&ha, "the saved state judged", |s| s.role_detail.contains("stale")).await;
        assert_eq!(s.role, Role::Unknown, "{text:?}");
        assert!(s.role_detail.ends_with("stale; waiting for keepalived to report"), "{}", s.role_detail);
        // keepalived speaking again is believed at once.
        assert_eq!(ha.notify_keepalived("MASTER").await.unwrap().decision.state, AdvertState::Advertising);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, [AdvertState::Withdrawn, AdvertState::Advertising].repeat(2), "advertised only after a notify");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sleeper() -> std::process::Child {
    std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep")
}

fn kill(child: &mut std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = child.wait();
}

/// keepalived (a `sleep` standing in for its VRRP process, named in the pid file) reports
/// MASTER, then dies without a word: withdrawn within 50 ms, and a restart does not honour
/// the state it saved.
#[tokio::test]
async fn keepalived_killed_after_master_withdraws_at_once() {
    let dir = tmpdir("engine-death");
    let (path, pidfile) = (dir.join("role"), dir.join("vrrp.pid"));
    let mut ka = sleeper();
    let pid = ka.id();
    std::fs::write(&pidfile, format!("{pid}\n")).unwrap();
    let role = crate::config::KeepalivedRole {
        pidfile: crate::config::EnginePid::File(pidfile.clone()),
        ..crate::config::KeepalivedRole::at(path.clone())
    };
    let c = cfg(&dir, RoleSource::Keepalived(role), vec![]);
    let ha = HaController::start(c.clone(), None);
    status_reaches(&ha, "keepalived seen", |s| s.role_engine.as_ref().is_some_and(|e| e.up)).await;
    let s = ha.status();
    let e = s.role_engine.expect("watched");
    assert_eq!(e.detail, format!("pid {pid} alive (watching {})", pidfile.display()));
    assert_eq!(e.pid, Some(pid));
    assert_eq!(ha.notify_keepalived("MASTER").await.unwrap().decision.state, AdvertState::Advertising);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains(&format!("\nengine {pid} ")), "the reporter is saved: {saved:?}");
    let mut rx = ha.subscribe();
    let killed = std::time::Instant::now();
    kill(&mut ka);
    let d = wait_for(&mut rx, AdvertState::Withdrawn).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(50), "withdrawn {took:?} after keepalived's death");
    assert!(
        d.reason.contains(&format!("role unknown (keepalived (pid {pid}) exited without reporting a state)")),
        "{}",
        d.reason
    );
    let e = ha.status().role_engine.unwrap();
    assert!(!e.up && e.detail.starts_with("not running ("), "{e:?}");
    drop(ha);
    // A restart: the saved MASTER's reporter is gone.
    let ha = HaController::start(c, None);
    let s = status_reaches(&ha, "the saved state judged", |s| s.role_detail.contains("saved keepalived")).await;
    assert_eq!(s.role, Role::Unknown);
    assert!(
        s.role_detail.contains(&format!("reported by keepalived pid {pid}, which is not running")),
        "{}",
        s.role_detail
    );
    eprintln!("keepalived SIGKILL → withdrawn in {took:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A new keepalived process is not primary until it reports; its report is not undone by its
/// predecessor's death seen late; only its own death drops the role.
#[tokio::test]
async fn only_the_reporting_keepalived_s_death_counts() {
    let dir = tmpdir("engine-swap");
    let (path, pidfile) = (dir.join("role"), dir.join("vrrp.pid"));
    let (mut a, mut b) = (sleeper(), sleeper());
    std::fs::write(&pidfile, format!("{}\n", a.id())).unwrap();
    let role = crate::config::KeepalivedRole {
        pidfile: crate::config::EnginePid::File(pidfile.clone()),
        ..crate::config::KeepalivedRole::at(path.clone())
    };
    let ha = HaController::start(cfg(&dir, RoleSource::Keepalived(role), vec![]), None);
    status_reaches(&ha, "A seen", |s| s.role_engine.as_ref().is_some_and(|e| e.pid == Some(a.id()))).await;
    // B takes over the pid file (A still alive) and reports MASTER.
    std::fs::write(&pidfile, format!("{}\n", b.id())).unwrap();
    status_reaches(&ha, "B seen", |s| s.role_engine.as_ref().is_some_and(|e| e.pid == Some(b.id()))).await;
    assert_eq!(ha.notify_keepalived("MASTER").await.unwrap().decision.state, AdvertState::Advertising);
    kill(&mut a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ha.current().state, AdvertState::Advertising, "A's death does not undo B's MASTER");
    let mut rx = ha.subscribe();
    kill(&mut b);
    let d = wait_for(&mut rx, AdvertState::Withdrawn).await;
    assert!(d.reason.contains(&format!("keepalived (pid {}) exited", b.id())), "{}", d.reason);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// No keepalived at start and a state saved by the CLI: Unknown, and the status says why.
#[tokio::test]
async fn no_keepalived_at_start_is_role_unknown() {
    let dir = tmpdir("engine-missing");
    let (path, pidfile) = (dir.join("role"), dir.join("vrrp.pid"));
    role::persist_role(&path, "MASTER").unwrap();
    let role = crate::config::KeepalivedRole {
        pidfile: crate::config::EnginePid::File(pidfile.clone()),
        ..crate::config::KeepalivedRole::at(path.clone())
    };
    let ha = HaController::start(cfg(&dir, RoleSource::Keepalived(role), vec![]), None);
    let want = format!("keepalived is not running: no {}; waiting", pidfile.display());
    let s = status_reaches(&ha, "the saved state judged", |s| s.role_detail.starts_with(&want)).await;
    assert_eq!(s.role, Role::Unknown);
    let s =
        status_reaches(&ha, "the watch's view", |s| s.role_engine.as_ref().is_some_and(|e| !e.detail.contains("yet")))
            .await;
    assert_eq!(s.role_engine.unwrap().detail, format!("not running (no {})", pidfile.display()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state saved by the CLI while keepalived runs: advertised for the grace, then withdrawn
/// unless keepalived reports (paused clock).
#[tokio::test(start_paused = true)]
async fn a_cli_saved_master_is_honoured_for_the_grace_only() {
    let dir = tmpdir("grace");
    let (path, pidfile) = (dir.join("role"), dir.join("vrrp.pid"));
    role::persist_role(&path, "MASTER").unwrap();
    // This test process stands in for keepalived: it is alive for sure.
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
    let role = crate::config::KeepalivedRole {
        pidfile: crate::config::EnginePid::File(pidfile.clone()),
        grace: Duration::from_millis(500),
        ..crate::config::KeepalivedRole::at(path.clone())
    };
    let ha = HaController::start(cfg(&dir, RoleSource::Keepalived(role), vec![]), None);
    let mut rx = ha.subscribe();
    let t0 = tokio::time::Instant::now();
    wait_for(&mut rx, AdvertState::Advertising).await;
    let d = wait_for(&mut rx, AdvertState::Withdrawn).await;
    let held = t0.elapsed();
    assert!(held >= Duration::from_millis(490) && held < Duration::from_millis(600), "held {held:?}");
    assert!(d.reason.contains("not confirmed in time"), "{}", d.reason);
    std::fs::remove_dir_all(&dir).unwrap();
}
