//! Keeps the managed anycast addresses (`manage_loopback`) on their interface after start
//! (review M8). Event-driven: a netlink socket joined to RTNLGRP_IPV4_IFADDR,
//! RTNLGRP_IPV6_IFADDR and RTNLGRP_LINK wakes the watcher on every address or link change;
//! it then lists the interface's addresses, re-adds a managed one that is gone at once (with a
//! rate-limited warning) and reports which are still missing — only those whose re-add
//! failed — to the advert decision, which withdraws them (`decision::Input::Addresses`).
//!
//! No periodic re-check is needed for lost events: when the socket's buffer overflows the
//! kernel drops notifications and recv fails with ENOBUFS, which netlink-proto hands over as
//! an `NLMSG_OVERRUN` message, and the watcher resynchronises with a full listing. A timer
//! runs only while something is wrong: every [`RETRY`] while an address is missing (its
//! interface may come back without an address event) or the event socket is down.
//!
//! It re-adds only the addresses it is told to own ([`AddrWatch::set_prefixes`] on reload)
//! and stops ([`AddrWatch::stop`]) before anycastd removes its own, so its own removals are
//! never "repaired". It decides nothing itself: the report is the decider's input.

use super::decision::AddressReport;
use super::loopback::Loopback;
use crate::log_limit::LogLimiter;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::SocketAddr;
use rtnetlink::MulticastGroup;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// How often a missing address is tried again, and the event socket re-opened.
pub const RETRY: Duration = Duration::from_secs(1);
/// One warning per address per window (then "N similar messages suppressed").
const WARN_WINDOW: Duration = Duration::from_secs(60);
/// How long [`AddrWatch::stop`] waits for a reconcile in progress to finish.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Called with the missing addresses whenever that changes (first call: the initial state).
pub type ReportHook = Arc<dyn Fn(AddressReport) + Send + Sync>;

enum Cmd {
    Set(Vec<IpNet>, oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// The running watcher. Dropping it aborts the task.
pub struct AddrWatch {
    cmds: mpsc::Sender<Cmd>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for AddrWatch {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

impl AddrWatch {
    /// Starts watching `want` on `lo`'s interface; `report` hears the first state at once.
    pub fn spawn(lo: Arc<Loopback>, want: Vec<IpNet>, report: ReportHook) -> AddrWatch {
        let (tx, rx) = mpsc::channel(4);
        let w = Watcher { lo, want, report, last: None, limiter: LogLimiter::new(WARN_WINDOW, 20, 64) };
        AddrWatch { cmds: tx, task: Mutex::new(Some(tokio::spawn(run(w, rx)))) }
    }

    /// Owns `want` from now on (reload). Returns once in force: no re-add for an address
    /// outside `want` is in progress or will start, so the caller may remove it.
    pub async fn set_prefixes(&self, want: Vec<IpNet>) {
        let (ack, done) = oneshot::channel();
        if self.cmds.send(Cmd::Set(want, ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Stops watching; once this returns nothing is re-added any more (a reconcile in
    /// progress finishes first, at most [`STOP_WAIT`], then the task is aborted).
    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        if self.cmds.send(Cmd::Stop(ack)).await.is_ok() {
            let _ = tokio::time::timeout(STOP_WAIT, done).await;
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
    }
}

/// The address and link notifications, on a netlink connection of their own (`handle`
/// sends requests on the same socket).
pub(crate) struct Events {
    pub(crate) rx: BoxStream<'static, (NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    pub(crate) handle: rtnetlink::Handle,
    conn: JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// A netlink socket joined to the IPv4 and IPv6 address groups and the link group.
pub(crate) fn subscribe() -> Result<Events, String> {
    let groups = [MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr, MulticastGroup::Link];
    let (conn, handle, rx) = rtnetlink::new_multicast_connection(&groups)
        .map_err(|e| format!("cannot subscribe to address notifications: {e}"))?;
    Ok(Events { rx: rx.boxed(), handle, conn: tokio::spawn(conn) })
}

/// Whether `m` calls for a look at the addresses of interface `index`.
fn relevant(m: &NetlinkMessage<RouteNetlinkMessage>, index: u32, missing: bool) -> bool {
    match &m.payload {
        // Notifications were dropped (ENOBUFS): resynchronise.
        NetlinkPayload::Overrun(_) => true,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) => a.header.index == index,
        // An address or an interface (re)appearing matters only while something is missing.
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::NewLink(_)) => missing,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => l.header.index == index,
        _ => false,
    }
}

/// The next notification: `Some(relevant)`, or `None` when the socket is gone.
async fn next_event(events: &mut Option<Events>, index: u32, missing: bool) -> Option<bool> {
    match events {
        Some(e) => e.rx.next().await.map(|(m, _)| relevant(&m, index, missing)),
        None => std::future::pending().await,
    }
}

struct Watcher {
    lo: Arc<Loopback>,
    want: Vec<IpNet>,
    report: ReportHook,
    last: Option<AddressReport>,
    limiter: LogLimiter<IpNet>,
}

async fn run(mut w: Watcher, mut cmds: mpsc::Receiver<Cmd>) {
    // Subscribed before the first listing, so no change between the two is missed.
    let mut events = w.open_events();
    w.reconcile().await;
    loop {
        let missing = w.is_missing();
        let again = tokio::select! {
            biased;
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Set(want, ack)) => {
                    w.want = want;
                    w.reconcile().await;
                    let _ = ack.send(());
                    continue;
                }
                Some(Cmd::Stop(ack)) => {
                    let _ = ack.send(());
                    return;
                }
                None => return,
            },
            ev = next_event(&mut events, w.lo.index(), missing) => match ev {
                Some(relevant) => relevant,
                None => {
                    warn!(interface = %w.lo.interface(), "address notifications stopped; re-subscribing");
                    events = None;
                    true
                }
            },
            _ = tokio::time::sleep(RETRY), if missing || events.is_none() => true,
        };
        if events.is_none() {
            events = w.open_events();
        }
        if again {
            w.reconcile().await;
        }
    }
}

impl Watcher {
    fn is_missing(&self) -> bool {
        self.last.as_ref().is_some_and(|r| !r.missing.is_empty())
    }

    fn open_events(&self) -> Option<Events> {
        subscribe().map_err(|e| warn!("{e}; looking every {} s instead", RETRY.as_secs())).ok()
    }

    /// Lists the interface, re-adds what is gone, reports what is still missing.
    async fn reconcile(&mut self) {
        let interface = self.lo.interface().to_string();
        let (gone, list_error) = match self.lo.addresses().await {
            Ok(have) => (self.want.iter().filter(|p| !have.contains(p)).copied().collect::<Vec<_>>(), None),
            // Fail closed: what cannot be seen is not announced.
            Err(e) => (self.want.clone(), Some(e)),
        };
        let mut still = Vec::new();
        let mut error = list_error;
        for p in gone {
            match self.readd(p).await {
                Ok(()) => self.warn(p, format!("anycast address {p} disappeared from {interface}; re-added")),
                Err(e) => {
                    self.warn(
                        p,
                        format!(
                            "anycast address {p} is not on {interface} and cannot be re-added: {e}; not advertised"
                        ),
                    );
                    error.get_or_insert(e);
                    still.push(p);
                }
            }
        }
        let detail = match (&error, still.is_empty()) {
            (_, true) => String::new(),
            (Some(e), false) => format!("not on {interface} ({e})"),
            (None, false) => format!("not on {interface}"),
        };
        let report = AddressReport { missing: still, detail };
        if self.last.as_ref() != Some(&report) {
            if self.last.as_ref().is_some_and(|r| !r.missing.is_empty()) && report.missing.is_empty() {
                info!(interface = %interface, "every anycast address is on {interface} again");
            }
            (self.report)(report.clone());
            self.last = Some(report);
        }
    }

    /// Adds `p` back; on failure looks the interface up again (deleted and re-created) once.
    async fn readd(&self, p: IpNet) -> Result<(), String> {
        let Err(e) = self.lo.add(&[p]).await else { return Ok(()) };
        match self.lo.relink().await {
            Ok(true) => self.lo.add(&[p]).await,
            _ => Err(e),
        }
    }

    fn warn(&mut self, p: IpNet, msg: String) {
        if let v @ crate::log_limit::Verdict::Log { .. } = self.limiter.check(&p, Instant::now()) {
            warn!(interface = %self.lo.interface(), "{msg}{}", v.suffix());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::loopback::tests::in_throwaway_netns;
    use super::*;
    use crate::config::{RoleSource, Standby};
    use crate::ha::{AdvertState, HaConfig, HaController};

    const P4: &str = "203.0.113.125/32";
    const P6: &str = "2001:db8::125/128";

    fn net(p: &str) -> IpNet {
        p.parse().unwrap()
    }

    /// Polls (bounded by `within`) until `p` is on `lo`'s interface; how long it took.
    async fn back_within(lo: &Loopback, p: IpNet, within: Duration) -> Duration {
        let t = Instant::now();
        while !lo.addresses().await.unwrap().contains(&p) {
            assert!(t.elapsed() < within, "{p} not re-added within {within:?}");
            tokio::task::yield_now().await;
        }
        t.elapsed()
    }

    fn recorder() -> (ReportHook, Arc<Mutex<Vec<AddressReport>>>) {
        let seen: Arc<Mutex<Vec<AddressReport>>> = Arc::default();
        let s2 = seen.clone();
        (Arc::new(move |r| s2.lock().unwrap().push(r)), seen)
    }

    #[test]
    fn a_deleted_address_is_re_added_at_once_and_only_while_owned() {
        let _ = in_throwaway_netns(|| async {
            let want = vec![net(P4), net(P6)];
            let lo = Arc::new(Loopback::open("lo").await.unwrap());
            lo.add(&want).await.unwrap();
            let (hook, seen) = recorder();
            let w = AddrWatch::spawn(lo.clone(), want.clone(), hook);
            // Someone else, on a netlink socket of their own.
            let other = Loopback::open("lo").await.unwrap();
            // The watcher reports its first state once subscribed and listed.
            let t = Instant::now();
            while seen.lock().unwrap().is_empty() {
                assert!(t.elapsed() < Duration::from_secs(1), "no first report");
                tokio::task::yield_now().await;
            }
            let mut worst = Duration::ZERO;
            for round in 0..20 {
                let p = want[round % 2];
                other.remove(&[p]).await.unwrap();
                worst = worst.max(back_within(&other, p, Duration::from_secs(1)).await);
            }
            // Both at once (a flush of ours).
            other.remove(&want).await.unwrap();
            for p in &want {
                worst = worst.max(back_within(&other, *p, Duration::from_secs(1)).await);
            }
            eprintln!("delete → re-added: worst {worst:?} over 22 deletions");
            assert_eq!(*seen.lock().unwrap(), vec![AddressReport::default()], "never reported missing");

            // Reload: P4 is no longer ours; removing it is not repaired. The P6 deletion
            // after it is an event that comes later, so once P6 is back P4's was seen.
            w.set_prefixes(vec![net(P6)]).await;
            other.remove(&[net(P4)]).await.unwrap();
            other.remove(&[net(P6)]).await.unwrap();
            back_within(&other, net(P6), Duration::from_secs(1)).await;
            assert!(!other.addresses().await.unwrap().contains(&net(P4)), "a disowned address was re-added");

            // Stopped: our own removal stays.
            w.stop().await;
            other.remove(&[net(P6)]).await.unwrap();
            assert!(!other.addresses().await.unwrap().contains(&net(P6)));
        });
    }

    #[test]
    fn an_address_that_cannot_be_re_added_is_withdrawn_until_it_is_back() {
        let _ = in_throwaway_netns(|| async {
            let dir = std::env::temp_dir().join(format!("anycastd-addrwatch-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let (conn, handle, _) = rtnetlink::new_connection().unwrap();
            let _conn = tokio::spawn(conn);
            let bridge = || handle.link().add(rtnetlink::LinkBridge::new("anyw0").build()).execute();
            bridge().await.unwrap();
            let lo = Arc::new(Loopback::open("anyw0").await.unwrap());
            lo.add(&[net(P4)]).await.unwrap();
            let cfg = HaConfig {
                service: crate::config::DEFAULT_SERVICE.into(),
                prefixes: vec![net(P4)],
                standby: Standby::Withdraw,
                role: RoleSource::Static,
                checks: vec![],
                state_dir: dir.clone(),
                track: None,
                preference: None,
            };
            let ha = Arc::new(HaController::start(cfg, None));
            let h2 = ha.clone();
            let w = AddrWatch::spawn(lo.clone(), vec![net(P4)], Arc::new(move |r| drop(h2.set_addresses(r))));
            let mut rx = ha.subscribe();
            let state = |s: AdvertState| move |d: &crate::ha::Decision| d.state == s;
            let wait = Duration::from_secs(2);
            tokio::time::timeout(wait, rx.wait_for(state(AdvertState::Advertising))).await.unwrap().unwrap();

            // The interface goes, and its address with it: nothing to re-add to.
            handle.link().del(lo.index()).execute().await.unwrap();
            let t = Instant::now();
            let d =
                tokio::time::timeout(wait, rx.wait_for(state(AdvertState::Withdrawn))).await.unwrap().unwrap().clone();
            let withdrawn = t.elapsed();
            assert!(d.reason.starts_with(&format!("withdrawing {P4}: address {P4} not on anyw0 (")), "{}", d.reason);

            // It comes back (a new index): the address is re-added and advertised again.
            bridge().await.unwrap();
            let t = Instant::now();
            tokio::time::timeout(wait, rx.wait_for(state(AdvertState::Advertising))).await.unwrap().unwrap();
            let readvertised = t.elapsed();
            assert!(lo.addresses().await.unwrap().contains(&net(P4)));
            eprintln!("interface deleted → withdrawn in {withdrawn:?}; re-created → advertised in {readvertised:?}");
            w.stop().await;
            ha.stop();
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
