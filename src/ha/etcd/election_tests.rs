//! The election and the follower against the in-memory etcd ([`super::fake`]) in paused time:
//! the fence holds whatever the network does (a cut leader stops being primary, by its own
//! `until`, before etcd lets another candidate win), resigning hands over at once, and a node
//! that never reached etcd is never primary.

use super::fake::{FakeEtcd, World};
use super::{Ctx, Shared};
use crate::config::{EtcdConn, EtcdMode, EtcdRole, HttpUrl};
use crate::ha::decision::{Advert, AdvertState, Decision, Role, RoleUpdate};
use crate::ha::role::SourceReport;
use crate::ha::track::Fitness;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_millis(500);
const MS: Duration = Duration::from_millis(1);

fn role(mode: EtcdMode) -> EtcdRole {
    let url = HttpUrl { tls: false, host: "192.0.2.101".into(), port: 2379, path: "/".into() };
    let conn = EtcdConn {
        endpoints: vec![url],
        ca: None,
        cert: None,
        key: None,
        username: None,
        password_file: None,
        timeout: TTL / 3,
    };
    EtcdRole { conn, mode, lease_ttl: TTL, margin: MARGIN, campaign_delay: Duration::ZERO }
}

fn election(candidate: &str) -> EtcdRole {
    role(EtcdMode::Election { election: "/anycastd/dns".into(), candidate: candidate.into() })
}

/// One node: its link to etcd, its fitness, and every role report with its time.
struct Node {
    etcd: FakeEtcd,
    fitness: watch::Sender<Fitness>,
    _decision: watch::Sender<Decision>,
    neighbors: watch::Sender<Option<String>>,
    reports: Arc<Mutex<Vec<(Instant, RoleUpdate)>>>,
    shared: Shared,
    task: JoinHandle<()>,
}

fn start(world: &Arc<Mutex<World>>, name: &'static str, cfg: EtcdRole) -> Node {
    let etcd = FakeEtcd::new(world, name);
    let (tx, mut rx) = mpsc::channel::<SourceReport>(16);
    let (fitness, fitness_rx) = watch::channel(Fitness::default());
    let withdrawn = Decision { advert: Advert::nothing(), state: AdvertState::Withdrawn, reason: String::new() };
    let (decision, decision_rx) = watch::channel(withdrawn);
    let (neighbors, neighbors_rx) = watch::channel(None);
    let shared = Shared::default();
    let ctx = Ctx {
        etcd: Arc::new(etcd.clone()),
        cfg: cfg.clone(),
        tx,
        fitness: fitness_rx,
        decision: decision_rx,
        neighbors: neighbors_rx,
        shared: shared.clone(),
    };
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    tokio::spawn(async move {
        while let Some(u) = rx.recv().await {
            r.lock().unwrap().push((Instant::now(), u.update));
        }
    });
    let task = match cfg.mode {
        EtcdMode::Election { .. } => tokio::spawn(super::election::run(ctx)),
        EtcdMode::Follow { .. } => tokio::spawn(super::follow::run(ctx)),
    };
    Node { etcd, fitness, _decision: decision, neighbors, reports, shared, task }
}

impl Node {
    /// When this node was primary as the decider sees it (a report honoured until its
    /// `until`), as [start, end) intervals up to `end`.
    fn primary(&self, end: Instant) -> Vec<(Instant, Instant)> {
        let reports = self.reports.lock().unwrap().clone();
        let mut out: Vec<(Instant, Instant)> = Vec::new();
        for (i, (t, u)) in reports.iter().enumerate() {
            let next = reports.get(i + 1).map_or(end, |(n, _)| *n);
            if u.role != Role::Primary {
                continue;
            }
            let stop = u.until.map_or(next, |until| tokio::time::Instant::from_std(until).min(next));
            if stop <= *t {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 >= *t => last.1 = last.1.max(stop),
                _ => out.push((*t, stop)),
            }
        }
        out
    }

    fn is_primary(&self, at: Instant) -> bool {
        self.primary(at + MS).iter().any(|(s, e)| *s <= at && at < *e)
    }

    fn last_detail(&self) -> String {
        self.reports.lock().unwrap().last().map(|(_, u)| u.detail.clone()).unwrap_or_default()
    }
}

/// The total time both were primary at once.
fn overlap(a: &[(Instant, Instant)], b: &[(Instant, Instant)]) -> Duration {
    let mut total = Duration::ZERO;
    for (s1, e1) in a {
        for (s2, e2) in b {
            let (s, e) = ((*s1).max(*s2), (*e1).min(*e2));
            if e > s {
                total += e - s;
            }
        }
    }
    total
}

async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Who is primary now, of `nodes`.
fn primaries(nodes: &[&Node]) -> Vec<&'static str> {
    let t = Instant::now();
    nodes.iter().filter(|n| n.is_primary(t)).map(|n| n.etcd.name).collect()
}

/// Two candidates on one etcd, a first: a leads once this returns.
async fn a_leads_b() -> (Arc<Mutex<World>>, Node, Node) {
    let world = Arc::new(Mutex::new(World::default()));
    let a = start(&world, "a", election("nodea"));
    run_for(Duration::from_millis(100)).await;
    let b = start(&world, "b", election("nodeb"));
    run_for(Duration::from_secs(2)).await;
    assert_eq!(primaries(&[&a, &b]), ["a"]);
    (world, a, b)
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_from_etcd_stops_being_primary_before_etcd_lets_another_win() {
    let world = Arc::new(Mutex::new(World::default()));
    let a = start(&world, "a", election("nodea"));
    // Answers reach a 200 ms after etcd acted: its fence must count from the sending.
    a.etcd.slow_back(Duration::from_millis(200));
    run_for(Duration::from_secs(1)).await;
    let b = start(&world, "b", election("nodeb"));
    run_for(Duration::from_secs(5)).await;
    assert_eq!(primaries(&[&a, &b]), ["a"], "a campaigned first and leads");
    assert_eq!(b.shared.lock().leader.as_deref(), Some("nodea"), "b's status names the leader");
    assert!(a.shared.lock().token.is_some(), "the leader shows a fencing token");
    // Cut right after a keep-alive's answer came back (none in flight, whose arrival at etcd
    // would stretch the lease unseen): the fence must then end within the margin of etcd's
    // expiry, and never after it.
    after_next_report(&a).await;
    let cut = Instant::now();
    a.etcd.cut(true);
    run_for(Duration::from_secs(10)).await;
    let end = Instant::now();
    let (pa, pb) = (a.primary(end), b.primary(end));
    let a_end = pa.last().expect("a was primary").1;
    let b_start = pb.first().expect("b took over").0;
    assert!(a_end <= cut + TTL - MARGIN, "a withdrew by its own fence: {:?} after the cut", a_end - cut);
    assert!(b_start >= a_end + MARGIN, "b announced {:?} after a withdrew: not before the margin", b_start - a_end);
    assert!(b_start <= cut + TTL + Duration::from_secs(1), "b took over {:?} after the cut", b_start - cut);
    assert_eq!(overlap(&pa, &pb), Duration::ZERO);
    // The invariant itself: no `until` a ever reported reaches into the margin before its
    // lease expired at etcd.
    let expired = world.lock().unwrap().log.iter().find(|(_, w)| w == "lease 1 expired").map(|(t, _)| *t);
    let expired = expired.expect("a's lease expired at etcd");
    let last_until = a.reports.lock().unwrap().iter().filter_map(|(_, u)| u.until).max().expect("fenced reports");
    let last_until = tokio::time::Instant::from_std(last_until);
    assert!(
        last_until + MARGIN <= expired,
        "a's fence reached {:?} past etcd's expiry − margin",
        (last_until + MARGIN) - expired
    );
    assert!(
        expired - (last_until + MARGIN) < Duration::from_millis(300),
        "the fence is not needlessly early: {:?}",
        expired - last_until
    );
    let said: Vec<String> = a.reports.lock().unwrap().iter().map(|(_, u)| u.detail.clone()).collect();
    assert!(said.iter().any(|d| d.contains("not confirmed in time") && d.contains("fenced")), "a says why: {said:?}");
    assert!(a.shared.lock().candidacy.starts_with("etcd unreachable"), "{}", a.shared.lock().candidacy);
    // Healed: a campaigns again behind b and stays standby.
    a.etcd.cut(false);
    run_for(Duration::from_secs(5)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"]);
    assert_eq!(a.shared.lock().candidacy, "campaigning");
}

/// Waits (bounded) for `n`'s next report: right after a keep-alive's answer, none in flight.
async fn after_next_report(n: &Node) {
    let seen = n.reports.lock().unwrap().len();
    for _ in 0..2000 {
        if n.reports.lock().unwrap().len() > seen {
            return;
        }
        run_for(MS).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_back_before_its_lease_expired_resumes_it_without_a_new_election() {
    let world = Arc::new(Mutex::new(World::default()));
    let mut quick = election("nodea");
    quick.conn.timeout = Duration::from_millis(300);
    let a = start(&world, "a", quick);
    run_for(Duration::from_millis(100)).await;
    let b = start(&world, "b", election("nodeb"));
    run_for(Duration::from_secs(2)).await;
    assert_eq!(primaries(&[&a, &b]), ["a"]);
    let lease = a.shared.lock().lease;
    after_next_report(&a).await;
    let cut = Instant::now();
    a.etcd.cut(true);
    // Past the fence (TTL − margin = 2.5 s), before etcd's expiry (3 s after the last arrival).
    run_for(Duration::from_millis(2700)).await;
    assert!(primaries(&[&a, &b]).is_empty(), "a withdrew at its fence, b has not won");
    assert!(a.shared.lock().candidacy.starts_with("etcd unreachable"), "{}", a.shared.lock().candidacy);
    a.etcd.cut(false);
    run_for(Duration::from_secs(3)).await;
    assert_eq!(primaries(&[&a, &b]), ["a"], "a's next keep-alive reached etcd in time");
    let s = a.shared.lock().clone();
    assert_eq!((s.lease, s.candidacy.as_str(), s.won), (lease, "leader", 1), "the same lease, no new election");
    assert!(b.primary(Instant::now()).is_empty());
    let pa = a.primary(Instant::now());
    assert!(pa.iter().any(|(_, e)| *e <= cut + TTL - MARGIN), "a withdrew at its fence: {pa:?}");
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_dies_is_replaced_after_its_lease_without_overlap() {
    let (_world, a, b) = a_leads_b().await;
    let killed = Instant::now();
    a.task.abort();
    run_for(Duration::from_secs(6)).await;
    let end = Instant::now();
    let (pa, pb) = (a.primary(end), b.primary(end));
    assert_eq!(overlap(&pa, &pb), Duration::ZERO, "a's last report expires by its until");
    let b_start = pb.first().expect("b took over").0;
    assert!(b_start - killed <= TTL + Duration::from_millis(100), "b took over {:?} after the kill", b_start - killed);
    assert_eq!(primaries(&[&a, &b]), ["b"]);
}

#[tokio::test(start_paused = true)]
async fn a_drained_leader_resigns_and_the_next_candidate_wins_at_once() {
    let (_world, a, b) = a_leads_b().await;
    let drained = Instant::now();
    a.fitness.send_replace(Fitness { failing: vec![], drained: true });
    run_for(Duration::from_millis(200)).await;
    let end = Instant::now();
    let (pa, pb) = (a.primary(end), b.primary(end));
    let b_start = pb.first().expect("b took over").0;
    assert!(b_start - drained <= Duration::from_millis(20), "no TTL wait: {:?}", b_start - drained);
    assert_eq!(overlap(&pa, &pb), Duration::ZERO);
    assert!(a.shared.lock().candidacy.contains("drained"), "{}", a.shared.lock().candidacy);
    // Undrained: a is a candidate again, behind b.
    a.fitness.send_replace(Fitness::default());
    run_for(Duration::from_secs(3)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"]);
    assert_eq!(a.shared.lock().candidacy, "campaigning");
}

/// etcd's campaign waits only for the keys created before its own: when a candidate's key is
/// deleted while it waits (the clean-up of a dropped campaign request does that, late), its
/// campaign still returns when the leader goes — at the same time as the real next candidate's.
/// The read after each win keeps that ghost from advertising.
#[tokio::test(start_paused = true)]
async fn a_campaign_that_returns_without_its_key_does_not_make_a_second_leader() {
    let world = Arc::new(Mutex::new(World::default()));
    let a = start(&world, "a", election("nodea"));
    run_for(Duration::from_millis(100)).await;
    let b = start(&world, "b", election("nodeb"));
    run_for(Duration::from_millis(100)).await;
    let c = start(&world, "c", election("nodec"));
    run_for(Duration::from_secs(2)).await;
    assert_eq!(primaries(&[&a, &b, &c]), ["a"]);
    let lease = b.shared.lock().lease.expect("b has a lease");
    world.lock().unwrap().delete(format!("/anycastd/dns/{lease:x}").as_bytes());
    a.task.abort();
    run_for(Duration::from_secs(6)).await;
    let end = Instant::now();
    let (pb, pc) = (b.primary(end), c.primary(end));
    assert_eq!(overlap(&pb, &pc), Duration::ZERO, "b: {pb:?}, c: {pc:?}");
    assert_eq!(primaries(&[&a, &b, &c]), ["c"], "c's key is the lowest left");
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_makes_the_leader_step_down_too() {
    let (_world, a, b) = a_leads_b().await;
    a.fitness.send_replace(Fitness { failing: vec!["dns".into()], drained: false });
    run_for(Duration::from_millis(100)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"]);
    assert!(a.shared.lock().candidacy.contains("check `dns` failing"), "{}", a.shared.lock().candidacy);
}

#[tokio::test(start_paused = true)]
async fn a_campaign_delay_lets_the_preferred_node_lead_when_all_start_together() {
    let world = Arc::new(Mutex::new(World::default()));
    let mut late = election("nodea");
    late.campaign_delay = Duration::from_millis(500);
    let a = start(&world, "a", late);
    let b = start(&world, "b", election("nodeb"));
    run_for(Duration::from_secs(2)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"]);
    assert_eq!(a.shared.lock().leader.as_deref(), Some("nodeb"), "a's next keep-alive asked who leads");
}

#[tokio::test(start_paused = true)]
async fn a_leader_without_a_bgp_neighbor_serving_stands_down_until_one_does() {
    let (_world, a, b) = a_leads_b().await;
    a.neighbors.send_replace(Some("no BGP neighbor serving (0/1 Established)".into()));
    run_for(Duration::from_millis(100)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"]);
    assert!(a.shared.lock().candidacy.contains("no BGP neighbor serving"), "{}", a.shared.lock().candidacy);
    a.neighbors.send_replace(None);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(a.shared.lock().candidacy, "campaigning");
}

#[tokio::test(start_paused = true)]
async fn etcd_unreachable_from_the_start_is_never_primary_and_says_so() {
    let world = Arc::new(Mutex::new(World::default()));
    let etcd = FakeEtcd::new(&world, "a");
    etcd.cut(true);
    // Cut before the first request: start() takes the node's own link, so cut that one.
    let a = start(&world, "a", election("nodea"));
    a.etcd.cut(true);
    drop(etcd);
    run_for(Duration::from_secs(10)).await;
    let end = Instant::now();
    assert!(a.primary(end).is_empty());
    let reports = a.reports.lock().unwrap().clone();
    assert!(!reports.is_empty(), "the decider hears why");
    assert!(reports.iter().all(|(_, u)| u.role == Role::Unknown), "{reports:?}");
    assert!(a.last_detail().contains("etcd unreachable"), "{}", a.last_detail());
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_key_is_deleted_behind_its_back_stands_down() {
    let (world, a, _b) = a_leads_b().await;
    let lease = a.shared.lock().lease.expect("a has a lease");
    let key = format!("/anycastd/dns/{lease:x}");
    world.lock().unwrap().delete(key.as_bytes());
    run_for(TTL / 3 + Duration::from_millis(100)).await;
    assert!(!a.is_primary(Instant::now()), "a stood down at its next keep-alive");
}

fn follow(value: &str) -> EtcdRole {
    role(EtcdMode::Follow { key: "/service/pg/leader".into(), value: value.into() })
}

#[tokio::test(start_paused = true)]
async fn the_follower_is_primary_while_the_key_names_it_and_fenced_when_cut() {
    let world = Arc::new(Mutex::new(World::default()));
    world.lock().unwrap().put("/service/pg/leader", "nodea", 0);
    let a = start(&world, "a", follow("nodea"));
    let b = start(&world, "b", follow("nodeb"));
    run_for(Duration::from_millis(100)).await;
    assert_eq!(primaries(&[&a, &b]), ["a"]);
    // The token is the revision that set the key; other writes to etcd do not move it.
    let token = a.shared.lock().token;
    world.lock().unwrap().put("/unrelated", "x", 0);
    run_for(Duration::from_secs(2)).await;
    let (now_token, won) = {
        let s = a.shared.lock();
        (s.token, s.won)
    };
    assert_eq!((now_token, won), (token, 1));
    assert!(token.is_some());
    let moved = Instant::now();
    world.lock().unwrap().put("/service/pg/leader", "nodeb", 0);
    run_for(Duration::from_millis(50)).await;
    assert_eq!(primaries(&[&a, &b]), ["b"], "the watch sees the change at once");
    let pb = b.primary(Instant::now());
    assert!(pb.first().unwrap().0 - moved < Duration::from_millis(30));
    let cut = Instant::now();
    b.etcd.cut(true);
    run_for(Duration::from_secs(5)).await;
    let pb = b.primary(Instant::now());
    assert!(pb.last().unwrap().1 <= cut + TTL - MARGIN, "fenced: {:?}", pb.last().unwrap().1 - cut);
    assert!(b.last_detail().contains("fenced"), "{}", b.last_detail());
}

#[tokio::test(start_paused = true)]
async fn the_follower_believes_the_holders_lease_when_it_has_less_left() {
    let world = Arc::new(Mutex::new(World::default()));
    let lease = world.lock().unwrap().grant_for_test(2);
    world.lock().unwrap().put("/service/pg/leader", "nodea", lease);
    let a = start(&world, "a", follow("nodea"));
    run_for(Duration::from_millis(100)).await;
    let until = a.reports.lock().unwrap().last().and_then(|(_, u)| u.until).expect("fenced");
    let left = until.saturating_duration_since(Instant::now().into_std());
    assert!(left < Duration::from_secs(2), "the key's lease (2 s, less than the 3 s TTL) bounds it: {left:?}");
    // The holder's lease runs out: the key goes, and so does the role.
    run_for(Duration::from_secs(3)).await;
    assert!(!a.is_primary(Instant::now()));
}
