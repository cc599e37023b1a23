//! The tokio edge of health checks: runs one [`Probe`] within its timeout and says what
//! happened, as a [`ProbeOutcome`] whose `detail` reads well in a log line or `status`.
//! `exec` runs an argv (no shell unless the config made it `/bin/sh -c`) in its own process
//! group, captures stdout and stderr bounded to [`OUTPUT_LIMIT`] bytes each while draining the
//! rest (so the child never blocks on a full pipe), and kills the WHOLE group with SIGKILL at
//! the timeout — and when the command exits, so no check leaves processes behind. `tcp`
//! connects; `http` (in `http.rs`) sends a minimal HTTP/1.1 GET, over TLS for https, and reads
//! the status line and, when asked, the body; `file` tests existence. Deciding anything from
//! the outcomes is `health.rs`'s and `decision.rs`'s job; nothing here panics on what a child
//! or a server sends.

use crate::config::Probe;
use crate::wire::text;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::{timeout_at, Instant};

/// Bytes kept of each of stdout and stderr; the rest is read and discarded.
pub const OUTPUT_LIMIT: usize = 4096;
/// Longest `detail` kept, in characters.
pub(super) const DETAIL_CHARS: usize = 200;

/// What one probe run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub ok: bool,
    /// First line of output, or what went wrong.
    pub detail: String,
    pub duration: Duration,
}

/// How an exec ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecStatus {
    Exited(i32),
    Signaled(i32),
    /// Killed (with its process group) at the timeout.
    TimedOut(Duration),
    /// Could not be started: "cannot run /x/y: No such file or directory".
    SpawnFailed(String),
}

impl std::fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecStatus::Exited(n) => write!(f, "exit {n}"),
            ExecStatus::Signaled(n) => match Signal::try_from(*n) {
                Ok(s) => write!(f, "killed by signal {n} ({})", s.as_str()),
                Err(_) => write!(f, "killed by signal {n}"),
            },
            ExecStatus::TimedOut(t) => write!(f, "timed out after {} ms", t.as_millis()),
            ExecStatus::SpawnFailed(why) => f.write_str(why),
        }
    }
}

/// A finished exec: status and bounded output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub status: ExecStatus,
    /// At most [`OUTPUT_LIMIT`] bytes.
    pub stdout: Vec<u8>,
    /// At most [`OUTPUT_LIMIT`] bytes.
    pub stderr: Vec<u8>,
    /// Some output was discarded.
    pub truncated: bool,
    pub duration: Duration,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == ExecStatus::Exited(0)
    }

    /// "exit 1: first line of stderr (or stdout)"; on success the first line of stdout.
    pub fn detail(&self) -> String {
        let (first, second) = if self.success() { (&self.stdout, &self.stderr) } else { (&self.stderr, &self.stdout) };
        let line = first_line(first).or_else(|| first_line(second));
        match line {
            Some(l) if self.success() => l,
            Some(l) => format!("{}: {l}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// Runs `probe` within `timeout`.
pub async fn run(probe: &Probe, timeout: Duration) -> ProbeOutcome {
    let start = Instant::now();
    let (ok, detail) = match probe {
        Probe::Exec { argv } => {
            let out = exec(argv, timeout).await;
            (out.success(), out.detail())
        }
        Probe::Tcp { address } => match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(_)) => (true, format!("connected to {address}")),
            Ok(Err(e)) => (false, format!("connect to {address}: {}", io_msg(&e))),
            Err(_) => (false, format!("connect to {address} timed out after {} ms", timeout.as_millis())),
        },
        Probe::Http { url, status, body, ca } => {
            match tokio::time::timeout(timeout, super::http::check(url, status, body.as_deref(), ca.as_deref())).await {
                Ok(done) => done,
                Err(_) => {
                    (false, format!("GET {} timed out after {} ms", super::http::show_url(url), timeout.as_millis()))
                }
            }
        }
        Probe::File { path, invert } => file_probe(path, *invert).await,
        Probe::Process { target } => super::event::process::probe(target).await,
        Probe::Systemd { unit } => super::event::systemd::probe(unit, timeout).await,
        Probe::Address { address, interface } => super::event::address::probe(*address, interface, timeout).await,
    };
    ProbeOutcome { ok, detail, duration: start.elapsed() }
}

/// Runs `argv` in its own process group; kills the group at `timeout` (and after the command
/// exits, to reap anything it left running). Output is bounded; see [`OUTPUT_LIMIT`].
pub async fn exec(argv: &[String], timeout: Duration) -> ExecOutput {
    exec_with_env(argv, &[], timeout).await
}

/// [`exec`] with `env` added to the inherited environment.
pub async fn exec_with_env(argv: &[String], env: &[(&str, &str)], timeout: Duration) -> ExecOutput {
    let start = Instant::now();
    let deadline = start + timeout;
    let done = |status, stdout: Bounded, stderr: Bounded| ExecOutput {
        status,
        truncated: stdout.truncated || stderr.truncated,
        stdout: stdout.buf,
        stderr: stderr.buf,
        duration: start.elapsed(),
    };
    let Some((prog, args)) = argv.split_first() else {
        let why = ExecStatus::SpawnFailed("cannot run an empty command".into());
        return done(why, Bounded::default(), Bounded::default());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let why = ExecStatus::SpawnFailed(format!("cannot run {prog}: {}", io_msg(&e)));
            return done(why, Bounded::default(), Bounded::default());
        }
    };
    // The child leads its own group: its pid is the group id.
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    let (mut out, mut err) = (Bounded::default(), Bounded::default());
    let status = {
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let reading = async {
            tokio::join!(drain(stdout, &mut out), drain(stderr, &mut err));
        };
        tokio::pin!(reading);
        let mut read_all = false;
        let waited = loop {
            tokio::select! {
                s = child.wait() => break Some(s),
                _ = &mut reading, if !read_all => read_all = true,
                _ = tokio::time::sleep_until(deadline) => break None,
            }
        };
        // Whether it exited or timed out, nothing of its group may outlive it.
        if let Some(pg) = pgid {
            let _ = killpg(pg, Signal::SIGKILL);
        }
        let status = match waited {
            Some(Ok(s)) => match (s.code(), s.signal()) {
                (Some(c), _) => ExecStatus::Exited(c),
                (None, Some(sig)) => ExecStatus::Signaled(sig),
                (None, None) => ExecStatus::SpawnFailed(format!("{prog}: ended with an unknown status")),
            },
            Some(Err(e)) => ExecStatus::SpawnFailed(format!("waiting for {prog}: {}", io_msg(&e))),
            None => {
                let _ = child.wait().await;
                ExecStatus::TimedOut(timeout)
            }
        };
        // The group is dead, so the pipes reach EOF at once, unless a process escaped the group
        // (setsid) still holding them: give up on those at the deadline.
        if !read_all {
            let _ = timeout_at(deadline.max(Instant::now() + Duration::from_millis(20)), &mut reading).await;
        }
        status
    };
    done(status, out, err)
}

/// Output kept up to [`OUTPUT_LIMIT`].
#[derive(Default)]
struct Bounded {
    buf: Vec<u8>,
    truncated: bool,
}

/// Reads `r` to EOF (or error), keeping the first [`OUTPUT_LIMIT`] bytes.
async fn drain<R: AsyncRead + Unpin>(r: Option<R>, into: &mut Bounded) {
    let Some(mut r) = r else { return };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(into.buf.len());
                let data = chunk.get(..n).unwrap_or_default();
                let keep = data.get(..room.min(n)).unwrap_or_default();
                into.buf.extend_from_slice(keep);
                if keep.len() < n {
                    into.truncated = true;
                }
            }
        }
    }
}

/// The first non-empty line of `bytes`, trimmed, cut to [`DETAIL_CHARS`] characters and
/// escaped ([`text::escape_at_most`]): a local service's output reaches logs and `status -v`,
/// so it must not carry ANSI sequences or other control characters.
pub fn first_line(bytes: &[u8]) -> Option<String> {
    let line = bytes.split(|&b| b == b'\n').map(<[u8]>::trim_ascii).find(|l| !l.is_empty())?;
    Some(text::escape_at_most(line, DETAIL_CHARS))
}

/// An io::Error's message without the "(os error N)" suffix.
pub(super) fn io_msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

async fn file_probe(path: &Path, invert: bool) -> (bool, String) {
    let p = path.display();
    match (tokio::fs::metadata(path).await, invert) {
        (Ok(_), false) => (true, format!("{p} exists")),
        (Ok(_), true) => (false, format!("{p} exists (expected absent)")),
        (Err(e), true) if e.kind() == std::io::ErrorKind::NotFound => (true, format!("{p} is absent")),
        (Err(e), false) if e.kind() == std::io::ErrorKind::NotFound => (false, format!("{p} is missing")),
        // Neither known present nor known absent: fail closed.
        (Err(e), _) => (false, format!("cannot check {p}: {}", io_msg(&e))),
    }
}
