//! The keepalived side of the daemon, through the real binaries: `anycastd run` as a child
//! process, a BGP peer (a second speaker, in process) over loopback, and the client commands
//! keepalived runs (`notify`, `check --quiet`) as processes.
//! - client commands reach the daemon while the config file on disk is broken (a TOML syntax
//!   error; an `md5_file` at mode 0644): they never validate it;
//! - `notify` without a daemon saves the state and exits 2 with the reason;
//! - `check --quiet`: 0 healthy + serving, 1 with a check failing, drained, the daemon hung
//!   (SIGSTOP) or gone; the track file follows the same rule, the weight at start and at stop.
//!
//! Every process started here is ended by its PID; every wait is bounded.

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");

struct Lab {
    dir: PathBuf,
    cfg: PathBuf,
    sock: PathBuf,
    role: PathBuf,
    track: PathBuf,
    ok_file: PathBuf,
    port: u16,
}

impl Lab {
    fn new(tag: &str, port: u16) -> Lab {
        let dir = std::env::temp_dir().join(format!("acd-ka-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            cfg: dir.join("anycastd.toml"),
            sock: dir.join("run").join("ctl.sock"),
            role: dir.join("state").join("role"),
            track: dir.join("run").join("track"),
            ok_file: dir.join("ok"),
            dir,
            port,
        };
        std::fs::write(&lab.cfg, lab.text("")).unwrap();
        Config::load(&lab.cfg).expect("the good config loads");
        lab
    }

    /// The daemon's config; `neighbor_extra` goes into its neighbor table.
    fn text(&self, neighbor_extra: &str) -> String {
        format!(
            "[bgp]\nlocal_as = 65124\nrouter_id = \"127.0.0.1\"\nlocal_ip = \"127.0.0.1\"\nhold_time = 9\nconnect_retry = 1\nport = {port}\n\
             [[bgp.neighbor]]\nremote_ip = \"127.0.0.2\"\nremote_as = 65000\nport = {port}\n{neighbor_extra}\
             [anycast]\nprefixes = [\"203.0.113.124/32\"]\n\
             [role]\nsource = \"keepalived\"\npath = \"{role}\"\npidfile = \"\"\ntrack_file = \"{track}\"\n\
             [[health.check]]\nname = \"svc\"\ntype = \"exec\"\ncommand = [\"/usr/bin/test\", \"-f\", \"{ok}\"]\n\
             interval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n\
             [control]\nsocket = \"{sock}\"\nstate_dir = \"{state}\"\n",
            port = self.port,
            role = self.role.display(),
            track = self.track.display(),
            ok = self.ok_file.display(),
            sock = self.sock.display(),
            state = self.dir.join("state").display(),
        )
    }

    fn track_value(&self) -> Option<String> {
        std::fs::read_to_string(&self.track).ok().map(|s| s.trim().to_string())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The daemon child; killed by its PID when dropped.
struct Daemon(std::process::Child);

impl Daemon {
    fn start(lab: &Lab) -> Daemon {
        let child = std::process::Command::new(BIN)
            .args(["run", "--config"])
            .arg(&lab.cfg)
            .env("ANYCASTD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Daemon(child)
    }

    fn signal(&self, s: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, s).unwrap();
    }

    /// SIGTERM, and wait (bounded) for a clean exit.
    async fn stop(mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "the daemon did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs the client binary (as a process, so this test's runtime goes on meanwhile).
async fn cli(args: &[&str]) -> Run {
    let t = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(BIN).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("the client command did not end within 20 s")
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t.elapsed(),
    }
}

async fn wait_for(limit: Duration, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not within {limit:?}: {what}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The router stand-in: a passive speaker at 127.0.0.2.
async fn peer(port: u16) -> Speaker {
    let text = format!(
        "[bgp]\nlocal_as = 65000\nrouter_id = \"127.0.0.2\"\nlocal_ip = \"127.0.0.2\"\nhold_time = 9\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"127.0.0.1\"\nremote_as = 65124\nport = {port}\npassive = true\n\
         [anycast]\nprefixes = [\"198.51.100.0/24\"]\n"
    );
    let cfg = Config::from_str(&text, Path::new("peer.toml")).unwrap();
    Speaker::start(&cfg, Advert::nothing()).await.unwrap()
}

async fn status_json(lab: &Lab, config: &Path) -> serde_json::Value {
    let r = cli(&["status", "--json", "--config", s(config)]).await;
    assert!(r.code == 0 || r.code == 1, "status: {} {}", r.code, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {} (lab {})", r.stdout, lab.dir.display()))
}

#[tokio::test(flavor = "current_thread")]
async fn client_commands_reach_the_daemon_while_the_config_on_disk_is_broken() {
    let lab = Lab::new("broken", 17951);
    let d = Daemon::start(&lab);
    wait_for(Duration::from_secs(10), "the control socket", async || lab.sock.exists()).await;
    let cfg = s(&lab.cfg);
    // 1. A TOML syntax error elsewhere in the file (an edit not yet applied).
    let good = std::fs::read_to_string(&lab.cfg).unwrap();
    std::fs::write(&lab.cfg, good.replace("local_as = 65124", "local_as = = 65124 [oops")).unwrap();
    assert!(Config::load(&lab.cfg).is_err());
    let r = cli(&["notify", "MASTER", "--config", cfg]).await;
    assert_eq!(r.code, 0, "notify with a broken config: {}", r.stderr);
    let st = status_json(&lab, &lab.cfg).await;
    assert_eq!(st["role"], "primary", "{st}");
    // keepalived's own argument order, through a generic notify hook.
    let r = cli(&["notify", "INSTANCE", "anycast", "BACKUP", "100", "--config", cfg]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(status_json(&lab, &lab.cfg).await["role"], "standby");
    // 2. A key file at mode 0644: the config is invalid, the client does not care.
    let key = lab.dir.join("bgp.key");
    std::fs::write(&key, "secret\n").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&lab.cfg, lab.text(&format!("md5_file = \"{}\"\n", key.display()))).unwrap();
    let e = Config::load(&lab.cfg).unwrap_err().to_string();
    assert!(e.contains("mode 644"), "{e}");
    let r = cli(&["notify", "MASTER", "--config", cfg]).await;
    assert_eq!(r.code, 0, "notify with a 0644 key file: {}", r.stderr);
    assert_eq!(status_json(&lab, &lab.cfg).await["role"], "primary");
    for cmd in [&["drain", "--seconds", "0"][..], &["undrain"]] {
        let mut args = cmd.to_vec();
        args.extend(["--config", cfg]);
        let r = cli(&args).await;
        assert_eq!(r.code, 0, "{cmd:?}: {}", r.stderr);
    }
    // `check` reaches the daemon and prints its report (this lab's check fails: exit 1, not 2).
    let r = cli(&["check", "--config", cfg]).await;
    assert_eq!(r.code, 1, "check: {} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL svc:"), "{}", r.stdout);
    // reload reaches the daemon too; the daemon (not the client) rejects the file.
    let r = cli(&["reload", "--config", cfg]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("config rejected, still running the previous one"), "{}", r.stderr);
    d.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn notify_without_a_daemon_saves_the_state_and_exits_2() {
    let lab = Lab::new("absent", 17952);
    // The config names a socket nobody listens on; --socket pins it so that no daemon of
    // this machine's own can answer.
    let r = cli(&["notify", "MASTER", "--config", s(&lab.cfg), "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let want = format!("): saved MASTER to {} for its next start", lab.role.display());
    assert!(r.stderr.starts_with("anycastd: the daemon is not running (") && r.stderr.contains(&want), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&lab.role).unwrap().lines().next(), Some("MASTER"));
    // Even when the file is broken, the role path is read from it.
    std::fs::write(&lab.cfg, lab.text("").replace("[anycast]", "[anycast\n")).unwrap();
    let r =
        cli(&["notify", "INSTANCE", "anycast", "FAULT", "0", "--config", s(&lab.cfg), "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&lab.role).unwrap().lines().next(), Some("FAULT"));
    // A sync group's notification is not ours: nothing saved, no failure.
    let r = cli(&["notify", "GROUP", "g", "MASTER", "--config", s(&lab.cfg), "--socket", s(&lab.sock)]).await;
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&lab.role).unwrap().lines().next(), Some("FAULT"));
    // No daemon: check --quiet fails, silently and at once.
    let r = cli(&["check", "--quiet", "--socket", s(&lab.sock)]).await;
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (1, "", ""));
}

#[tokio::test(flavor = "current_thread")]
async fn check_quiet_and_the_track_file_follow_health_drain_serving_and_the_daemon_itself() {
    let lab = Lab::new("quiet", 17953);
    let sock = s(&lab.sock).to_string();
    let quiet = || {
        let sock = sock.clone();
        async move { cli(&["check", "--quiet", "--socket", &sock]).await }
    };
    std::fs::write(&lab.ok_file, "").unwrap();
    let d = Daemon::start(&lab);
    // At start, before any neighbor serves: the weight (fail closed).
    wait_for(Duration::from_secs(10), "the track file at start", async || lab.track_value().is_some()).await;
    assert_eq!(lab.track_value().as_deref(), Some("-254"));
    wait_for(Duration::from_secs(10), "the control socket", async || lab.sock.exists()).await;
    let r = quiet().await;
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (1, "", ""), "no neighbor serving yet");
    let p = peer(lab.port).await;
    wait_for(Duration::from_secs(15), "the session", async || p.status()[0].state == NeighborState::Established).await;
    wait_for(Duration::from_secs(5), "check --quiet 0", async || quiet().await.code == 0).await;
    wait_for(Duration::from_secs(2), "0 once serving", async || lab.track_value().as_deref() == Some("0")).await;
    let st = status_json(&lab, &lab.cfg).await;
    assert_eq!(st["track"]["value"], 0, "{st}");
    assert_eq!(st["track"]["path"], s(&lab.track));
    assert!(st["track"]["why"].as_str().unwrap().contains("1/1 neighbors serving"), "{st}");
    let text = cli(&["status", "--socket", s(&lab.sock)]).await.stdout;
    assert!(text.contains(&format!("track file: 0 in {}", lab.track.display())), "{text}");
    // The check fails: both say so.
    std::fs::remove_file(&lab.ok_file).unwrap();
    wait_for(Duration::from_secs(5), "check --quiet 1 on a failing check", async || quiet().await.code == 1).await;
    wait_for(Duration::from_secs(2), "the weight", async || lab.track_value().as_deref() == Some("-254")).await;
    let st = status_json(&lab, &lab.cfg).await;
    assert_eq!(st["track"]["why"], "check `svc` is not healthy", "{st}");
    // `check` (not quiet) prints the report on stdout and exits 1 while a check fails.
    let r = cli(&["check", "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 1, "check with a failing check: {} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL svc:"), "{}", r.stdout);
    std::fs::write(&lab.ok_file, "").unwrap();
    wait_for(Duration::from_secs(5), "check --quiet 0 again", async || quiet().await.code == 0).await;
    let r = cli(&["check", "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 0, "check with every check passing: {} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ok   svc:"), "{}", r.stdout);
    wait_for(Duration::from_secs(2), "0 again", async || lab.track_value().as_deref() == Some("0")).await;
    // A drain in progress counts as drained.
    assert_eq!(cli(&["drain", "--seconds", "30", "--socket", s(&lab.sock)]).await.code, 0);
    assert_eq!(quiet().await.code, 1);
    // Drained is degraded for `status` too: exit 1, though everything else is well.
    let r = cli(&["status", "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 1, "status while drained: {}", r.stdout);
    wait_for(Duration::from_secs(2), "the weight when drained", async || lab.track_value().as_deref() == Some("-254"))
        .await;
    assert_eq!(cli(&["undrain", "--socket", s(&lab.sock)]).await.code, 0);
    assert_eq!(quiet().await.code, 0);
    wait_for(Duration::from_secs(2), "0 after undrain", async || lab.track_value().as_deref() == Some("0")).await;
    // Hung (SIGSTOP): the track file cannot change, check --quiet must fail, and fast.
    d.signal(nix::sys::signal::Signal::SIGSTOP);
    let r = quiet().await;
    d.signal(nix::sys::signal::Signal::SIGCONT);
    assert_eq!(r.code, 1, "a hung daemon passed check --quiet");
    // It gives up after 0.5 s itself (QUIET_CHECK_WAIT); the rest is starting a process.
    assert!(r.took < Duration::from_millis(1500), "check --quiet took {:?} on a hung daemon", r.took);
    wait_for(Duration::from_secs(5), "check --quiet 0 after SIGCONT", async || quiet().await.code == 0).await;
    // The peer goes: no neighbor serving.
    p.shutdown("test", Duration::from_secs(2)).await;
    wait_for(Duration::from_secs(5), "check --quiet 1 without a neighbor", async || quiet().await.code == 1).await;
    wait_for(Duration::from_secs(2), "the weight without a neighbor", async || {
        lab.track_value().as_deref() == Some("-254")
    })
    .await;
    let p = peer(lab.port).await;
    wait_for(Duration::from_secs(15), "serving again", async || quiet().await.code == 0).await;
    wait_for(Duration::from_secs(2), "0 with the neighbor back", async || lab.track_value().as_deref() == Some("0"))
        .await;
    // A reload that moves the track file: the old one gets the weight, the new one follows.
    let moved = lab.dir.join("run").join("track2");
    std::fs::write(&lab.cfg, lab.text("").replace(s(&lab.track), s(&moved))).unwrap();
    let r = cli(&["reload", "--socket", s(&lab.sock)]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    wait_for(Duration::from_secs(2), "the old file at the weight", async || {
        read(&lab.track).as_deref() == Some("-254")
    })
    .await;
    wait_for(Duration::from_secs(5), "the new file at 0", async || read(&moved).as_deref() == Some("0")).await;
    std::fs::write(&lab.cfg, lab.text("")).unwrap();
    assert_eq!(cli(&["reload", "--socket", s(&lab.sock)]).await.code, 0);
    wait_for(Duration::from_secs(5), "back at 0", async || lab.track_value().as_deref() == Some("0")).await;
    assert_eq!(read(&moved).as_deref(), Some("-254"));
    // A clean stop leaves the weight, so keepalived hands MASTER to the peer.
    assert!(d.stop().await.success());
    assert_eq!(lab.track_value().as_deref(), Some("-254"));
    assert_eq!(quiet().await.code, 1, "daemon gone");
    p.shutdown("test", Duration::from_secs(1)).await;
}

/// `status -v` shows the failover timeline: after two role changes (MASTER, then BACKUP) the
/// last decisions are listed with their time, state and cause, and the JSON has them too.
#[tokio::test(flavor = "current_thread")]
async fn status_verbose_shows_the_last_decisions_and_their_causes() {
    let lab = Lab::new("timeline", 17972);
    std::fs::write(&lab.ok_file, "").unwrap();
    let d = Daemon::start(&lab);
    wait_for(Duration::from_secs(10), "the control socket", async || lab.sock.exists()).await;
    let cfg = s(&lab.cfg);
    assert_eq!(cli(&["notify", "MASTER", "--config", cfg]).await.code, 0);
    wait_for(Duration::from_secs(5), "advertising", async || {
        status_json(&lab, &lab.cfg).await["advert_state"] == "advertising"
    })
    .await;
    assert_eq!(cli(&["notify", "BACKUP", "--config", cfg]).await.code, 0);
    let st = status_json(&lab, &lab.cfg).await;
    let list = st["decisions"].as_array().cloned().unwrap_or_default();
    let last_two: Vec<(String, String)> = list
        .iter()
        .rev()
        .take(2)
        .map(|r| (r["state"].as_str().unwrap_or("").to_string(), r["cause"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(last_two[0].0, "withdrawn", "{st}");
    assert!(last_two[0].1.starts_with("role standby"), "{st}");
    assert_eq!(last_two[1].0, "advertising", "{st}");
    assert!(last_two[1].1.starts_with("role primary"), "{st}");
    assert!(list.iter().all(|r| r["at"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 24)), "{st}");
    let v = cli(&["status", "-v", "--config", cfg]).await;
    assert!(v.stdout.contains("decisions (oldest first):"), "{}", v.stdout);
    let lines: Vec<&str> = v.stdout.lines().filter(|l| l.starts_with("    20")).collect();
    assert!(lines.len() >= 2, "{}", v.stdout);
    assert!(
        lines[lines.len() - 1].contains("withdrawn") && lines[lines.len() - 1].contains("role standby"),
        "{}",
        v.stdout
    );
    assert!(
        lines[lines.len() - 2].contains("advertising") && lines[lines.len() - 2].contains("role primary"),
        "{}",
        v.stdout
    );
    d.stop().await;
}
