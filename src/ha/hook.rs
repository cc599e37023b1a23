//! The `on_change` hook (like ExaBGP's `--execute`): a program run on every change of a
//! service's advert state, with `SERVICE`, `STATE` and `REASON` added to its environment.
//!
//! [`spawn`] returns at once: it is called from the decision path, under its lock, so it only
//! takes a short in-memory lock, queues the change and hands the work to a tokio task. The
//! hook runs through [`probe::exec_with_env`]: no shell (argv\[0\] with its arguments), stdin
//! `/dev/null`, stdout and stderr captured (the first [`probe::OUTPUT_LIMIT`] bytes of each,
//! the rest drained) and logged escaped, in its own process group, killed with SIGKILL (by its
//! pid, which is the group's id) when it exceeds its timeout, and the group killed when it
//! exits too: a hook cannot leave a daemon running behind it. The exit status is logged (info
//! when it exits 0, warn otherwise).
//!
//! The hooks of one service (one hook program of one service) run one at a time, in the order
//! of the changes, and never pile up: at most one runs and one waits. A change arriving while
//! one is already waiting REPLACES the waiting one, so a burst of changes runs the hook for the
//! first (already running) and then for the latest; the states in between are skipped (and
//! counted in the log). The hook always ends up told the service's latest state. [`Queue`] is
//! that rule, sans IO.

use super::probe;
use crate::wire::text;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tracing::{info, warn};

/// One hook's queue: nothing, one running, or one running and one waiting.
#[derive(Debug)]
pub struct Queue<T> {
    running: bool,
    pending: Option<T>,
    /// Changes replaced while waiting, since the last start.
    skipped: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { running: false, pending: None, skipped: 0 }
    }
}

/// What [`Queue::offer`] did with a change.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// Nothing was running: start this one now (it is now running).
    Start(T),
    /// One is running: this one waits.
    Queued,
    /// One is running and another was waiting: this one waits in its place (the old one is
    /// handed back, never to run).
    Replaced(T),
}

impl<T> Queue<T> {
    pub fn offer(&mut self, job: T) -> Offer<T> {
        if !self.running {
            self.running = true;
            return Offer::Start(job);
        }
        match self.pending.replace(job) {
            Some(old) => {
                self.skipped = self.skipped.saturating_add(1);
                Offer::Replaced(old)
            }
            None => Offer::Queued,
        }
    }

    /// The running one ended: the waiting one to start now (then running), with how many
    /// changes it replaced, or nothing (then idle).
    pub fn finished(&mut self) -> Option<(T, u64)> {
        let next = self.pending.take().map(|j| (j, std::mem::take(&mut self.skipped)));
        self.running = next.is_some();
        next
    }

    pub fn is_idle(&self) -> bool {
        !self.running && self.pending.is_none()
    }
}

/// One change for one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    state: String,
    reason: String,
    timeout: Duration,
}

/// (service, hook argv).
type Key = (String, Vec<String>);

static QUEUES: Mutex<BTreeMap<Key, Queue<Job>>> = Mutex::new(BTreeMap::new());

fn queues() -> MutexGuard<'static, BTreeMap<Key, Queue<Job>>> {
    // Nothing under this lock can leave the map inconsistent: recover from a poisoned lock.
    QUEUES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the hook `argv` for `service`'s new `state` (`reason` says why) in the background,
/// bounded by `timeout`; returns at once. See the module documentation for the order and the
/// bound. Outside a tokio runtime it runs nothing and logs a warning.
pub fn spawn(argv: &[String], service: &str, state: &str, reason: &str, timeout: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        warn!(service, state, "on_change hook not run: no async runtime");
        return;
    };
    let key: Key = (service.to_string(), argv.to_vec());
    let job = Job { state: state.to_string(), reason: reason.to_string(), timeout };
    let start = match queues().entry(key.clone()).or_default().offer(job) {
        Offer::Start(job) => job,
        Offer::Queued | Offer::Replaced(_) => return,
    };
    // If the task is dropped, even before it first runs (the runtime shutting down), the queue
    // must not stay "running" forever: the guard, owned by the task, removes it.
    rt.spawn(run_queue(Forget { key, armed: true }, start));
}

/// Runs `job`, then whatever the queue holds next, until it is empty.
async fn run_queue(mut guard: Forget, mut job: Job) {
    let mut skipped = 0;
    loop {
        run_one(&guard.key, &job, skipped).await;
        let mut map = queues();
        let key = &guard.key;
        match map.get_mut(key).and_then(Queue::finished) {
            Some((j, n)) => (job, skipped) = (j, n),
            None => {
                // Idle: gone from the map under the same lock, so the next change starts anew.
                map.remove(key);
                drop(map);
                guard.armed = false;
                return;
            }
        }
    }
}

/// Removes its key from the queues when dropped armed (its runner did not finish).
struct Forget {
    key: Key,
    armed: bool,
}

impl Drop for Forget {
    fn drop(&mut self) {
        if self.armed {
            queues().remove(&self.key);
        }
    }
}

async fn run_one((service, argv): &Key, job: &Job, skipped: u64) {
    let env = [("SERVICE", service.as_str()), ("STATE", job.state.as_str()), ("REASON", job.reason.as_str())];
    let out = probe::exec_with_env(argv, &env, job.timeout).await;
    let hook = argv.first().map(String::as_str).unwrap_or_default();
    let status = out.status.to_string();
    let duration_ms = u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX);
    let stdout = text::escape(&out.stdout);
    let stderr = text::escape(&out.stderr);
    let (state, truncated) = (job.state.as_str(), out.truncated);
    if out.success() {
        info!(service, state, hook, status, duration_ms, skipped, stdout, stderr, truncated, "on_change hook done");
    } else {
        warn!(service, state, hook, status, duration_ms, skipped, stdout, stderr, truncated, "on_change hook failed");
    }
}

/// Whether a hook of `service` runs or waits.
#[cfg(test)]
fn busy(service: &str) -> bool {
    queues().keys().any(|(s, _)| s == service)
}

#[cfg(test)]
mod tests {
    use super::super::probe_tests::{argv, is_dead};
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    #[test]
    fn queue_runs_one_and_keeps_only_the_latest_waiting() {
        let mut q = Queue::default();
        assert!(q.is_idle());
        assert_eq!(q.offer(1), Offer::Start(1));
        assert_eq!(q.offer(2), Offer::Queued);
        assert_eq!(q.offer(3), Offer::Replaced(2));
        assert_eq!(q.offer(4), Offer::Replaced(3));
        assert!(!q.is_idle());
        assert_eq!(q.finished(), Some((4, 2)));
        assert!(!q.is_idle(), "4 runs now");
        assert_eq!(q.offer(5), Offer::Queued);
        assert_eq!(q.finished(), Some((5, 0)));
        assert_eq!(q.finished(), None);
        assert!(q.is_idle());
        assert_eq!(q.offer(6), Offer::Start(6));
    }

    #[test]
    fn a_burst_starts_one_and_leaves_the_last_waiting() {
        let mut q = Queue::default();
        let started: Vec<_> =
            (0..100).filter_map(|i| if let Offer::Start(j) = q.offer(i) { Some(j) } else { None }).collect();
        assert_eq!(started, [0]);
        assert_eq!(q.finished(), Some((99, 98)));
        assert_eq!(q.finished(), None);
    }

    /// `/bin/sh -c script sh out` (the script's $1 is `out`).
    fn sh(script: &str, out: &Path) -> Vec<String> {
        argv(&["/bin/sh", "-c", script, "sh", &out.display().to_string()])
    }

    async fn wait_idle(service: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if !busy(service) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// Calls [`spawn`] and says how long it took.
    fn timed_spawn(argv: &[String], service: &str, state: &str, reason: &str, timeout: Duration) -> Duration {
        let t = Instant::now();
        spawn(argv, service, state, reason, timeout);
        t.elapsed()
    }

    #[tokio::test]
    async fn the_hook_gets_service_state_and_reason_and_no_stdin() {
        let dir = crate::test_env::fresh_dir("hook", "env");
        let out = dir.join("env");
        let hook = sh(
            r#"printf '%s|%s|%s|%s' "$SERVICE" "$STATE" "$REASON" "$(readlink /proc/self/fd/0)" > "$1.tmp" && mv "$1.tmp" "$1""#,
            &out,
        );
        let reason = "check \"dns\" failed: exit 1; $(reboot) `x` *";
        let took = timed_spawn(&hook, "dns-env", "withdrawn", reason, Duration::from_secs(2));
        assert!(took < Duration::from_millis(1), "{took:?}");
        assert!(wait_idle("dns-env", Duration::from_secs(2)).await);
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(got, format!("dns-env|withdrawn|{reason}|/dev/null"));
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed() {
        let dir = crate::test_env::fresh_dir("hook", "timeout");
        let pidfile = dir.join("pid");
        let hook = sh(r#"echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 30"#, &pidfile);
        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let took = timed_spawn(&hook, "dns-timeout", "announced", "healthy", timeout);
        assert!(took < Duration::from_millis(1), "{took:?}");
        let limit = timeout + Duration::from_millis(100);
        let mut pid = None;
        let mut dead_at = None;
        while start.elapsed() < limit + Duration::from_secs(1) {
            pid = pid.or_else(|| std::fs::read_to_string(&pidfile).ok().map(|p| p.trim().to_string()));
            if pid.as_deref().is_some_and(is_dead) {
                dead_at = Some(start.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let dead_at = dead_at.unwrap_or_else(|| panic!("the hook (pid {pid:?}) still runs"));
        assert!(dead_at >= timeout && dead_at < limit, "killed after {dead_at:?}");
        assert!(wait_idle("dns-timeout", Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_burst_runs_at_most_two_hooks_and_ends_on_the_last_state() {
        let dir = crate::test_env::fresh_dir("hook", "burst");
        let log = dir.join("log");
        let hook = sh(r#"sleep 0.1; echo "$STATE" >> "$1""#, &log);
        let mut slowest = Duration::ZERO;
        for i in 0..100 {
            let took = timed_spawn(&hook, "dns-burst", &format!("s{i}"), "flap", Duration::from_secs(2));
            slowest = slowest.max(took);
        }
        assert!(slowest < Duration::from_millis(1), "{slowest:?}");
        assert!(wait_idle("dns-burst", Duration::from_secs(3)).await);
        let got = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(got, "s0\ns99\n");
    }

    /// Each service has its own queue: a slow hook of one does not hold back another's.
    #[tokio::test]
    async fn services_do_not_wait_for_each_other() {
        let dir = crate::test_env::fresh_dir("hook", "services");
        let out = dir.join("fast");
        spawn(&argv(&["/bin/sleep", "1"]), "dns-slow", "announced", "healthy", Duration::from_secs(2));
        let start = Instant::now();
        spawn(&sh(r#"echo "$SERVICE" > "$1""#, &out), "dns-fast", "announced", "healthy", Duration::from_secs(2));
        assert!(wait_idle("dns-fast", Duration::from_millis(500)).await);
        assert!(start.elapsed() < Duration::from_millis(500));
        assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "dns-fast\n");
        assert!(busy("dns-slow"));
    }

    /// A runtime shutting down while a hook runs or waits to start leaves no queue stuck
    /// "running": the service's next change runs.
    #[test]
    fn a_runtime_shut_down_leaves_no_stuck_queue() {
        let dir = crate::test_env::fresh_dir("hook", "shutdown");
        let out = dir.join("after");
        let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Spawned but never polled.
        let rt = runtime();
        rt.block_on(async { spawn(&argv(&["/bin/sleep", "5"]), "dns-shutdown", "a", "r", Duration::from_secs(9)) });
        assert!(busy("dns-shutdown"));
        drop(rt);
        assert!(!busy("dns-shutdown"));
        // Running.
        let rt = runtime();
        rt.block_on(async {
            spawn(&argv(&["/bin/sleep", "5"]), "dns-shutdown", "b", "r", Duration::from_secs(9));
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        drop(rt);
        assert!(!busy("dns-shutdown"));
        runtime().block_on(async {
            spawn(&sh(r#"echo "$STATE" > "$1""#, &out), "dns-shutdown", "c", "r", Duration::from_secs(2));
            assert!(wait_idle("dns-shutdown", Duration::from_secs(2)).await);
        });
        assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "c\n");
    }

    /// Collects a subscriber's output.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The hook's exit status and output reach the log, escaped and bounded.
    #[test]
    fn the_outcome_is_logged_escaped() {
        let logs = Captured::default();
        let writer = logs.clone();
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let _default = tracing::subscriber::set_default(sub);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let fail = argv(&["/bin/sh", "-c", r"printf 'done\033[31m'; printf 'oops\007' >&2; exit 3"]);
            spawn(&fail, "dns-log", "withdrawn", "r", Duration::from_secs(2));
            assert!(wait_idle("dns-log", Duration::from_secs(2)).await);
            let flood = argv(&["/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x"]);
            spawn(&flood, "dns-log", "announced", "r", Duration::from_secs(2));
            assert!(wait_idle("dns-log", Duration::from_secs(2)).await);
        });
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).to_string();
        let mut lines = text.lines();
        let failed = lines.next().unwrap_or_default();
        assert!(failed.contains("WARN") && failed.contains("on_change hook failed"), "{text}");
        // Escaped (text::escape), then quoted as a string field (so the backslash is doubled).
        assert!(failed.contains(r#"status="exit 3""#) && failed.contains(r#"stdout="done\\x1b[31m""#), "{text}");
        assert!(failed.contains(r#"stderr="oops\\x07""#) && !failed.chars().any(char::is_control), "{text}");
        let done = lines.next().unwrap_or_default();
        assert!(
            done.contains("INFO") && done.contains("on_change hook done") && done.contains("truncated=true"),
            "{text}"
        );
        let xs = done.split("stdout=\"").nth(1).unwrap_or_default().split('"').next().unwrap_or_default();
        assert_eq!(xs, "x".repeat(probe::OUTPUT_LIMIT), "{text}");
    }

    #[test]
    fn outside_a_runtime_nothing_runs() {
        spawn(&argv(&["/bin/true"]), "dns-nort", "announced", "healthy", Duration::from_secs(1));
        assert!(!busy("dns-nort"));
    }
}
