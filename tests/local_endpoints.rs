//! The daemon's local endpoints (control socket, metrics), against the real binary run as a
//! child:
//! - exhaustion, with the soft fd limit systemd gives a unit by default (1024): over a thousand
//!   metrics connections held open must not starve the health checks (an `exec` check needs fds
//!   for its pipes) nor the control socket, and the daemon must not spin;
//! - the control socket's owner rules: a second daemon does not take over a live socket, a
//!   client whose uid is neither root nor the daemon's is refused (SO_PEERCRED), and the socket
//!   goes away with its daemon;
//! - `[control] group`: a member (by primary or supplementary group) reads `status` with the
//!   CLI and is refused `drain`; a non-member is refused.

use anycastd::control::{self, Request};
use anycastd::status::StatusDoc;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the daemon child (by its PID, through the handle) however the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// More than the daemon's 1024 fds: 1,000 leave it ~10 spare on top of its own ~14, which an
/// `exec` check (three pipes) and one control connection just fit into; 1,100 exhaust it.
const HELD: usize = 1100;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(dir: &Path, metrics: u16, bgp: u16) -> String {
    format!(
        "[bgp]\nlocal_as = 65124\nlocal_ip = \"127.0.0.1\"\nhold_time = 9\nconnect_retry = 1\nport = {bgp}\n\
         [[bgp.neighbor]]\nremote_ip = \"127.0.0.2\"\nremote_as = 65000\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\nmanage_loopback = false\n\
         [role]\nsource = \"static\"\n\
         [[health.check]]\nname = \"true\"\ntype = \"exec\"\ncommand = [\"true\"]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 5\n\
         [control]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\
         [metrics]\nlisten = \"127.0.0.1:{metrics}\"\n",
        dir.join("run/ctl.sock").display(),
        dir.join("state").display(),
    )
}

/// The daemon with RLIMIT_NOFILE soft 1024, the systemd default for a unit that sets none.
fn spawn(cfg: &Path) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anycastd"));
    cmd.args(["run", "-c"]).arg(cfg).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (getrlimit/setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            lim.rlim_cur = 1024.min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Daemon(cmd.spawn().expect("spawn anycastd"))
}

/// This process holds HELD sockets: raise its own soft limit to the hard one.
fn raise_own_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are 14 and 15 (1-based).
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

async fn status(sock: &Path, wait: Duration) -> Result<(StatusDoc, Duration), String> {
    let t = Instant::now();
    let r = control::request(sock, &Request::Status, wait).await.map_err(|e| e.to_string())?;
    let s = r.status.ok_or_else(|| format!("no status: {:?}", r.error))?;
    Ok((*s, t.elapsed()))
}

fn healthy_and_fresh(s: &StatusDoc) -> Result<(), String> {
    let c = s.ha.checks.first().ok_or("no check in status")?;
    if !(s.ha.healthy && c.healthy && c.ok == Some(true)) {
        return Err(format!("check not healthy: {c:?}"));
    }
    // Run every 100 ms: a last result older than 1 s means the check has stopped running.
    match c.age_ms {
        Some(a) if a < 1000 => {}
        a => return Err(format!("check not run recently: age {a:?} ms")),
    }
    if s.ha.advertising.is_empty() {
        return Err(format!("withdrawn: {}", s.ha.reason));
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_held_metrics_connections_starve_neither_checks_nor_control() {
    assert!(raise_own_fd_limit() >= 1100, "this test needs a hard fd limit above 1100");
    let dir = std::env::temp_dir().join(format!("acd-exhaust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let metrics = free_port();
    let cfg = dir.join("a.toml");
    std::fs::write(&cfg, config(&dir, metrics, free_port())).unwrap();
    let sock = dir.join("run/ctl.sock");
    let d = spawn(&cfg);
    let pid = d.0.id();

    // Up, healthy and advertising (bounded wait for the first check results).
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        match status(&sock, Duration::from_secs(2)).await {
            Ok((s, _)) if healthy_and_fresh(&s).is_ok() => break s,
            r => assert!(Instant::now() < deadline, "daemon did not come up healthy: {r:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // HELD connections to /metrics, held open without sending a byte.
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(HELD);
    for i in 0..HELD {
        match TcpStream::connect(("127.0.0.1", metrics)) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connection {i} to metrics refused by the kernel: {e}"),
        }
    }
    let opened = t0.elapsed();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    eprintln!("daemon holds {fds} fds");
    let cpu0 = cpu_ticks(pid);
    let w0 = Instant::now();

    // While they are held (the metrics read deadline would free them after seconds), the
    // control socket answers and the check keeps running and passing: 1.5 s is 15 check runs.
    let mut worst = Duration::ZERO;
    let mut polls = 0u32;
    let mut failures = Vec::new();
    while w0.elapsed() < Duration::from_millis(1500) {
        match status(&sock, Duration::from_secs(2)).await {
            Ok((s, took)) => {
                worst = worst.max(took);
                if let Err(e) = healthy_and_fresh(&s) {
                    failures.push(e);
                } else if s.ha.advertising != before.ha.advertising {
                    failures.push(format!("advertising {:?}", s.ha.advertising));
                }
            }
            Err(e) => failures.push(format!("control socket: {e}")),
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let window = w0.elapsed();
    let cpu = cpu_ticks(pid).saturating_sub(cpu0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu_pct = cpu * 100 * 1000 / hz / (window.as_millis().max(1) as u64);
    eprintln!(
        "opened {HELD} in {opened:?}; {polls} status polls, {} failed, worst answer {worst:?}; daemon CPU {cpu_pct}% over {window:?}",
        failures.len()
    );
    assert!(failures.is_empty(), "during the flood: {failures:#?}");
    // An accept loop spinning on EMFILE burns a whole core; idle plus 15 checks is far below.
    assert!(cpu_pct < 50, "daemon CPU {cpu_pct}% while connections are held");
    drop(held);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (bounded) for a child to exit; its exit status.
fn wait_exit(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "current_thread")]
async fn control_socket_is_kept_by_its_daemon_and_refuses_strangers() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("acd-ctlsock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let cfg = dir.join("a.toml");
    std::fs::write(&cfg, config(&dir, free_port(), free_port())).unwrap();
    let sock = dir.join("run/ctl.sock");
    let mut d = spawn(&cfg);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&sock, Duration::from_secs(2)).await.is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::metadata(dir.join("run")).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);

    // A second daemon on the same config stops at the live socket and leaves it alone.
    let mut second = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_exit(&mut second, Duration::from_secs(10)).expect("the second daemon kept running");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!st.success() && err.contains("another anycastd is running on"), "{st}: {err}");
    status(&sock, Duration::from_secs(2)).await.expect("the first daemon lost its control socket");

    // Loosen the modes by hand: the peer's uid still decides. nobody (65534) is refused.
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .args(["status", "--socket"])
        .arg(&sock)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("permission denied: uid 65534"), "{}: {text}", out.status);
    // Root (this process) still may.
    status(&sock, Duration::from_secs(2)).await.expect("root refused");

    // SIGTERM: the daemon removes its own socket on the way out.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.0.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let st = wait_exit(&mut d.0, Duration::from_secs(10)).expect("no exit on SIGTERM");
    assert!(st.success(), "{st}");
    assert!(!sock.exists(), "the socket outlived its daemon");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group on this host that nobody (65534) is not in, by name and gid.
fn group_without_nobody() -> Option<(String, u32)> {
    ["operator", "backup", "list", "irc", "games", "daemon", "bin", "sys"].iter().find_map(|n| {
        let g = nix::unistd::Group::from_name(n).ok().flatten()?;
        let gid = g.gid.as_raw();
        (gid != 65534 && !g.mem.iter().any(|m| m == "nobody")).then(|| (n.to_string(), gid))
    })
}

/// The CLI as nobody (uid and primary gid from `ids`, supplementary groups from `groups`, both
/// setpriv options) against `sock`: whether the daemon answered (exit status 0, or 1 for
/// `status`, which then only tells that a neighbor is down) and its output.
fn cli_as_nobody(ids: &[&str], groups: &str, cmd: &str, sock: &Path) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(ids)
        .arg(groups)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_anycastd"))
        .args([cmd, "--socket"])
        .arg(sock)
        .output()
        .expect("run setpriv");
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let answered =
        out.status.success() || (cmd == "status" && out.status.code() == Some(1) && text.contains("anycastd PRIMARY"));
    (answered, text)
}

#[tokio::test(flavor = "current_thread")]
async fn control_group_members_read_status_and_nothing_else() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if anycastd::test_env::skip_unprivileged("control group members") {
        return;
    }
    // setpriv is util-linux (Essential on Debian); a host without it fails here, not silently.
    assert!(Command::new("setpriv").arg("--version").output().is_ok(), "setpriv (util-linux) is needed");
    let (name, gid) = group_without_nobody().expect("a group on this host that nobody (65534) is not in");
    let dir = std::env::temp_dir().join(format!("acd-ctlgroup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    // nobody must reach the socket's directory through ours.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.join("a.toml");
    let text =
        config(&dir, free_port(), free_port()).replacen("[control]\n", &format!("[control]\ngroup = \"{name}\"\n"), 1);
    std::fs::write(&cfg, text).unwrap();
    let sock = dir.join("run/ctl.sock");
    let _d = spawn(&cfg);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&sock, Duration::from_secs(2)).await.is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (d, f) = (std::fs::metadata(dir.join("run")).unwrap(), std::fs::metadata(&sock).unwrap());
    assert_eq!((d.mode() & 0o7777, d.gid()), (0o750, gid), "directory");
    assert_eq!((f.mode() & 0o777, f.gid()), (0o660, gid), "socket");

    let nobody = ["--reuid=65534", "--regid=65534"];
    let member = format!("--groups={gid}");
    // A member by supplementary group (read from /proc/<pid>/status) reads status, nothing more.
    let (ok, text) = cli_as_nobody(&nobody, &member, "status", &sock);
    assert!(ok, "status as a supplementary member: {text}");
    let (ok, text) = cli_as_nobody(&nobody, &member, "drain", &sock);
    assert!(
        !ok && text.contains("permission denied: uid 65534 is not root; group members may only read status"),
        "{text}"
    );
    // A member by primary gid (SO_PEERCRED) too.
    let primary = ["--reuid=65534".to_string(), format!("--regid={gid}")];
    let primary: Vec<&str> = primary.iter().map(String::as_str).collect();
    let (ok, text) = cli_as_nobody(&primary, "--clear-groups", "status", &sock);
    assert!(ok, "status as a primary member: {text}");
    let (ok, text) = cli_as_nobody(&primary, "--clear-groups", "undrain", &sock);
    assert!(!ok && text.contains("group members may only read status"), "{text}");
    // Not a member: the modes keep it out; loosened by hand, the daemon still does.
    let (ok, text) = cli_as_nobody(&nobody, "--clear-groups", "status", &sock);
    assert!(!ok && text.contains("Permission denied"), "{text}");
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, text) = cli_as_nobody(&nobody, "--clear-groups", "status", &sock);
    assert!(!ok && text.contains("permission denied: uid 65534 may not use the control socket"), "{text}");
    // The drain was refused: still not draining.
    let (doc, _) = status(&sock, Duration::from_secs(2)).await.expect("root refused");
    assert_eq!(doc.ha.drain.state, anycastd::ha::status::DrainState::None, "a refused drain happened");
    let _ = std::fs::remove_dir_all(&dir);
}
