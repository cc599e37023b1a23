//! The whole keepalived loop with the real keepalived and the shipped `configs/keepalived.conf`,
//! in a network namespace of this test's own:
//!
//! ```text
//!   netns acdkl-<pid>
//!   ┌──────────────────────────────────────────────────────────────────────┐
//!   │ keepalived (VRRP on veth kv0, 192.0.2.10/24; alone: MASTER when fit)  │
//!   │   │ notify FIFO → anycastd notify-fifo ─┐    vrrp_script: check --quiet│
//!   │   │ track_file ← written by anycastd    │                              │
//!   │ anycastd (node, 127.0.0.1) ◀────────────┘                              │
//!   │   └── BGP ── anycastd (router stand-in, 127.0.0.2, static, passive)     │
//!   └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! A failed check must reach keepalived (FAULT) — before, nothing told it and it stayed MASTER
//! while nobody announced — and the route must come back when the check recovers; a hung
//! (SIGSTOP) or dead (SIGKILL) anycastd must put the instance into FAULT through the
//! `vrrp_script`. Needs root (see `anycastd::test_env`), `ip` and keepalived (skipped with a
//! note when it is not installed). Every
//! process is ended by its PID and the namespace removed; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");
const PORT: u16 = 17961;

struct Ns {
    name: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Ns {
    fn create() -> Option<Ns> {
        let name = format!("acdkl-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).ok()?;
        let ns = Ns { name, dir, children: Vec::new() };
        let ok = ns.ip(&["netns", "add", &ns.name])
            && ns.ip(&["-n", &ns.name, "link", "set", "lo", "up"])
            && ns.ip(&["-n", &ns.name, "link", "add", "kv0", "type", "veth", "peer", "name", "kv1"])
            && ns.ip(&["-n", &ns.name, "link", "set", "kv0", "up"])
            && ns.ip(&["-n", &ns.name, "link", "set", "kv1", "up"])
            && ns.ip(&["-n", &ns.name, "addr", "add", "192.0.2.10/24", "dev", "kv0"])
            && ns.ip(&["-n", &ns.name, "addr", "add", "127.0.0.2/8", "dev", "lo"]);
        ok.then_some(ns)
    }

    fn ip(&self, args: &[&str]) -> bool {
        Command::new("ip").args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// Starts `argv` inside the namespace, output to `log`; its index in `children`.
    fn spawn(&mut self, argv: &[&str], log: &Path) -> usize {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    fn signal(&self, i: usize, s: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.children[i].id()).unwrap());
        let _ = nix::sys::signal::kill(pid, s);
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        // keepalived (last started) first: it closes the FIFO, so notify-fifo ends too.
        for c in self.children.iter_mut().rev() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap_or(0));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn status(sock: &Path) -> serde_json::Value {
    let out = Command::new(BIN).args(["status", "--json", "--socket", s(sock)]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {limit:?}: {what}");
}

fn count(log: &Path, what: &str) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches(what).count()
}

#[test]
fn a_failed_check_a_hung_or_a_dead_anycastd_put_keepalived_into_fault() {
    if anycastd::test_env::skip_unprivileged("keepalived_loop (a network namespace of its own)") {
        return;
    }
    let missing = !Path::new("/usr/sbin/keepalived").exists();
    if missing
        && anycastd::test_env::skip_missing("keepalived_loop", "/usr/sbin/keepalived", "apt-get install keepalived")
    {
        return;
    }
    let mut ns = Ns::create().expect("cannot create a network namespace with a veth pair");
    let d = ns.dir.clone();
    let (node_sock, peer_sock, ok, track) =
        (d.join("run/node.sock"), d.join("run/peer.sock"), d.join("ok"), d.join("run/track"));
    std::fs::write(&ok, "").unwrap();
    let node_cfg = d.join("node.toml");
    std::fs::write(
        &node_cfg,
        format!(
            "[bgp]\nlocal_as = 65124\nrouter_id = \"127.0.0.1\"\nlocal_ip = \"127.0.0.1\"\nhold_time = 9\nconnect_retry = 1\nport = {PORT}\n\
             [[bgp.neighbor]]\nremote_ip = \"127.0.0.2\"\nremote_as = 65000\n\
             [anycast]\nprefixes = [\"203.0.113.124/32\"]\n\
             [role]\nsource = \"keepalived\"\npath = \"{}\"\npidfile = \"\"\ntrack_file = \"{}\"\ninstance = \"anycast\"\n\
             [[health.check]]\nname = \"svc\"\ntype = \"exec\"\ncommand = [\"/usr/bin/test\", \"-f\", \"{}\"]\n\
             interval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n\
             [control]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
            d.join("state/role").display(),
            track.display(),
            ok.display(),
            node_sock.display(),
            d.join("state").display()
        ),
    )
    .unwrap();
    let peer_cfg = d.join("peer.toml");
    std::fs::write(
        &peer_cfg,
        format!(
            "[bgp]\nlocal_as = 65000\nrouter_id = \"127.0.0.2\"\nlocal_ip = \"127.0.0.2\"\nhold_time = 9\nport = {PORT}\n\
             [[bgp.neighbor]]\nremote_ip = \"127.0.0.1\"\nremote_as = 65124\npassive = true\n\
             [anycast]\nprefixes = [\"198.51.100.0/24\"]\n\
             [control]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
            peer_sock.display(),
            d.join("peer-state").display()
        ),
    )
    .unwrap();
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/keepalived.conf")).unwrap();
    let ka_text = shipped
        .replace("\"/usr/sbin/anycastd check --quiet\"", &format!("\"{BIN} check --quiet --socket {}\"", s(&node_sock)))
        .replace("\"/usr/sbin/anycastd notify-fifo\"", &format!("\"{BIN} notify-fifo --config {}\"", s(&node_cfg)))
        .replace("/usr/sbin/anycastd notify INSTANCE", &format!("{BIN} notify --config {} INSTANCE", s(&node_cfg)))
        .replace("/run/anycastd", s(&d.join("run")))
        .replace("eth0", "kv0");
    assert!(!ka_text.contains("/usr/sbin/anycastd"), "{ka_text}");
    let ka_cfg = d.join("keepalived.conf");
    std::fs::write(&ka_cfg, ka_text).unwrap();

    ns.spawn(&[BIN, "run", "--config", s(&peer_cfg)], &d.join("peer.log"));
    let node = ns.spawn(&[BIN, "run", "--config", s(&node_cfg)], &d.join("node.log"));
    wait_for(Duration::from_secs(10), "the node's track file", || track.exists());
    let ka_log = d.join("keepalived.log");
    let pids = [d.join("k.pid"), d.join("v.pid"), d.join("c.pid")];
    ns.spawn(
        &[
            "/usr/sbin/keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            s(&ka_cfg),
            "-p",
            s(&pids[0]),
            "-r",
            s(&pids[1]),
            "-c",
            s(&pids[2]),
        ],
        &ka_log,
    );
    let announced = || status(&peer_sock)["neighbors"][0]["prefixes_received_v4"].as_u64() == Some(1);
    let withdrawn = || status(&peer_sock)["neighbors"][0]["prefixes_received_v4"].as_u64() == Some(0);
    let detail = || status(&node_sock)["role_detail"].as_str().unwrap_or_default().to_string();

    // Healthy and serving: track 0, keepalived MASTER (alone), the route at the router.
    wait_for(Duration::from_secs(20), "MASTER and the route at the router", || {
        announced() && detail() == "keepalived MASTER"
    });
    assert_eq!(std::fs::read_to_string(&track).unwrap().trim(), "0");

    // 1. The check fails: the track file takes keepalived to FAULT at once (it used to stay
    //    MASTER while this node announced nothing), and the route leaves.
    std::fs::remove_file(&ok).unwrap();
    let took = wait_for(Duration::from_secs(3), "FAULT after a failed check", || detail() == "keepalived FAULT");
    wait_for(Duration::from_secs(1), "the withdraw", withdrawn);
    eprintln!("check failed -> keepalived FAULT reported back in {took:?}");
    std::fs::write(&ok, "").unwrap();
    wait_for(Duration::from_secs(15), "MASTER again after the check recovers", || {
        announced() && detail() == "keepalived MASTER"
    });

    // 2. anycastd hung: it cannot write the track file; the vrrp_script fails (2 × 1 s).
    let faults = count(&ka_log, "Entering FAULT STATE");
    ns.signal(node, nix::sys::signal::Signal::SIGSTOP);
    let took = wait_for(Duration::from_secs(6), "FAULT with anycastd stopped", || {
        count(&ka_log, "Entering FAULT STATE") > faults
    });
    eprintln!("anycastd SIGSTOP -> keepalived FAULT in {took:?}");
    ns.signal(node, nix::sys::signal::Signal::SIGCONT);
    wait_for(Duration::from_secs(20), "MASTER again after SIGCONT", || announced() && detail() == "keepalived MASTER");

    // 3. anycastd dead.
    let faults = count(&ka_log, "Entering FAULT STATE");
    ns.signal(node, nix::sys::signal::Signal::SIGKILL);
    let took = wait_for(Duration::from_secs(6), "FAULT with anycastd dead", || {
        count(&ka_log, "Entering FAULT STATE") > faults
    });
    eprintln!("anycastd SIGKILL -> keepalived FAULT in {took:?}");
}
