//! systemd integration without a library: `sd_notify` datagrams to `$NOTIFY_SOCKET` (READY,
//! STATUS, WATCHDOG, STOPPING) and the watchdog interval from `$WATCHDOG_USEC`. Outside systemd
//! (no `NOTIFY_SOCKET`) every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn target() -> Option<SocketAddr> {
    target_of(std::env::var_os("NOTIFY_SOCKET")?)
}

fn target_of(p: std::ffi::OsString) -> Option<SocketAddr> {
    let b = std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str());
    match b.split_first() {
        Some((b'@', name)) => SocketAddr::from_abstract_name(name).ok(),
        Some(_) => SocketAddr::from_pathname(std::path::Path::new(&p)).ok(),
        None => None,
    }
}

/// Sends one notification ("READY=1", "STATUS=…", "WATCHDOG=1", "STOPPING=1"). Returns
/// whether a systemd socket was there to receive it.
pub fn notify(state: &str) -> bool {
    target().is_some_and(|addr| send(&addr, state))
}

/// Non-blocking: this runs on the runtime thread, and a notification dropped because systemd's
/// queue is full is better than a stalled daemon (a missed WATCHDOG=1 is retried next tick).
fn send(addr: &SocketAddr, state: &str) -> bool {
    let Ok(sock) = UnixDatagram::unbound() else { return false };
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    sock.send_to_addr(state.as_bytes(), addr).is_ok()
}

/// The shortest watchdog interval we keep: a tiny `WATCHDOG_USEC` (even 1) must neither panic
/// (`interval(0)`) nor make the main loop spin.
pub const MIN_WATCHDOG_INTERVAL: Duration = Duration::from_millis(50);

/// Half the watchdog period systemd expects (`WatchdogSec=`), if it set one for us, and at
/// least [`MIN_WATCHDOG_INTERVAL`].
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_of(std::env::var("WATCHDOG_USEC").ok(), std::env::var("WATCHDOG_PID").ok())
}

fn watchdog_of(usec: Option<String>, pid: Option<String>) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok()?;
    if let Some(pid) = pid {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2).max(MIN_WATCHDOG_INTERVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notify socket to receive on: its directory, the socket, its address.
    fn receiver(tag: &str) -> (std::path::PathBuf, UnixDatagram, SocketAddr) {
        let dir = std::env::temp_dir().join(format!("acd-sd-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let addr = target_of(path.into_os_string()).unwrap();
        (dir, rx, addr)
    }

    #[test]
    fn sends_to_the_notify_socket() {
        let (dir, rx, addr) = receiver("send");
        assert!(send(&addr, "READY=1"));
        let mut b = [0u8; 64];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"READY=1");
        assert!(target_of("@anycastd-test".into()).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_one_microsecond_watchdog_ticks_without_panicking() {
        let every = watchdog_of(Some("1".into()), None).unwrap();
        let mut t = tokio::time::interval(every);
        t.tick().await;
    }

    #[test]
    fn a_full_notify_socket_drops_the_notification_instead_of_blocking() {
        let (dir, rx, addr) = receiver("full");
        // Nobody reads: the receive queue fills (bounded by the count), then sends fail at once.
        let started = std::time::Instant::now();
        let mut sent = 0u32;
        for _ in 0..10_000 {
            if !send(&addr, "WATCHDOG=1") {
                break;
            }
            sent += 1;
        }
        assert!(sent < 10_000, "the queue never filled");
        assert!(!send(&addr, "STATUS=dropped"));
        assert!(started.elapsed() < Duration::from_secs(5));
        // What was queued arrives unchanged.
        let mut b = [0u8; 64];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"WATCHDOG=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn watchdog_is_half_the_period_and_ours_only() {
        assert_eq!(watchdog_of(Some("5000000".into()), None), Some(Duration::from_millis(2500)));
        assert_eq!(
            watchdog_of(Some("5000000".into()), Some(std::process::id().to_string())),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(watchdog_of(Some("5000000".into()), Some("1".into())), None);
        assert_eq!(watchdog_of(Some("0".into()), None), None);
        assert_eq!(watchdog_of(Some("1".into()), None), Some(MIN_WATCHDOG_INTERVAL));
        assert_eq!(watchdog_of(Some("99999".into()), None), Some(MIN_WATCHDOG_INTERVAL));
        assert_eq!(watchdog_of(None, None), None);
    }
}
