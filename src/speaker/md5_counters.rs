//! The kernel's TCP-MD5 counters (`/proc/net/netstat`, `TcpExt:` lines) and what they say
//! about a neighbor that cannot connect.
//!
//! The kernel drops a segment whose MD5 option is wrong, missing or unexpected before any
//! socket sees it, so a session with mismatched keys only ever shows "Connect" or "Active".
//! The only trace is three counters of the network namespace:
//! - `TCPMD5Failure`: a segment carried an MD5 option and the digest did not verify (the keys
//!   differ);
//! - `TCPMD5NotFound`: a key is set for the sender but its segment carried no MD5 option (the
//!   router has no key);
//! - `TCPMD5Unexpected`: a segment carried an MD5 option but no key is set for its sender (a
//!   key on the router, none here).
//!
//! They count for the whole namespace, not per peer: a neighbor's diagnosis uses what they
//! counted while that neighbor was down, and says so when other neighbors were down too.
//! Parsing and diagnosis are pure; [`read`] is the only I/O.

use crate::status::{Md5Counters, NeighborState};
use std::net::IpAddr;

/// The counters from the text of `/proc/net/netstat`; `None` when it has no `TcpExt` pair of
/// lines or none of the three fields (a kernel built without TCP-MD5).
pub fn parse(netstat: &str) -> Option<Md5Counters> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let names = lines.next()?.split_whitespace().skip(1);
    let values = lines.next()?.split_whitespace().skip(1);
    let mut c = Md5Counters::default();
    let mut found = false;
    for (name, value) in names.zip(values) {
        let slot = match name {
            "TCPMD5Failure" => &mut c.failure,
            "TCPMD5NotFound" => &mut c.not_found,
            "TCPMD5Unexpected" => &mut c.unexpected,
            _ => continue,
        };
        *slot = value.parse().ok()?;
        found = true;
    }
    found.then_some(c)
}

/// The counters of this process's network namespace now.
pub fn read() -> Option<Md5Counters> {
    parse(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// What `now` counted beyond `since` (a counter that went back, as after a namespace was
/// recreated, counts from zero).
pub fn delta(now: Md5Counters, since: Md5Counters) -> Md5Counters {
    let d = |n: u64, s: u64| if n >= s { n - s } else { n };
    Md5Counters {
        failure: d(now.failure, since.failure),
        not_found: d(now.not_found, since.not_found),
        unexpected: d(now.unexpected, since.unexpected),
    }
}

/// A neighbor's state as far as the diagnosis cares.
pub struct Down {
    pub remote: IpAddr,
    pub state: NeighborState,
    /// A TCP-MD5 key is configured for it.
    pub keyed: bool,
    /// What the counters counted since it was last Established (or since it started).
    pub counted: Md5Counters,
}

/// The plain-words diagnosis for a neighbor stuck in Connect/Active; `others_down` is how many
/// other neighbors were down meanwhile (the counters cannot tell them apart).
pub fn diagnose(n: &Down, others_down: usize) -> Option<String> {
    if !stuck(n.state) {
        return None;
    }
    let ip = n.remote;
    let c = n.counted;
    let what = if n.keyed && c.failure > 0 {
        format!(
            "segments from {ip} fail MD5 verification: the keys differ ({} segment{} failed since the session went down)",
            c.failure,
            plural(c.failure)
        )
    } else if n.keyed && c.not_found > 0 {
        format!(
            "the router sends no MD5 option: no key configured on the router ({} unsigned segment{} dropped since the session went down)",
            c.not_found,
            plural(c.not_found)
        )
    } else if !n.keyed && c.unexpected > 0 {
        format!(
            "the router signs its segments with TCP-MD5 but no key is configured here: set md5 or md5_file for neighbor {ip} ({} signed segment{} dropped since the session went down)",
            c.unexpected,
            plural(c.unexpected)
        )
    } else {
        return None;
    };
    Some(if others_down == 0 {
        what
    } else {
        format!(
            "{what}; the kernel counts for the whole namespace and {others_down} other neighbor{} {} down too",
            plural(others_down as u64),
            if others_down == 1 { "was" } else { "were" }
        )
    })
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Sets each down neighbor's diagnosis from what the counters counted while it was down.
pub fn diagnose_all(neighbors: &mut [(crate::status::NeighborStatus, Option<Md5Counters>)]) {
    let down: Vec<Option<Down>> = neighbors
        .iter()
        .map(|(s, counted)| Some(Down { remote: s.remote_ip?, state: s.state, keyed: s.md5, counted: (*counted)? }))
        .collect();
    let stuck = down.iter().flatten().filter(|d| stuck(d.state)).count();
    for ((s, _), d) in neighbors.iter_mut().zip(&down) {
        s.md5_diagnosis = d.as_ref().and_then(|d| diagnose(d, stuck.saturating_sub(1)));
    }
}

/// The states of a session that cannot connect (Idle: between two attempts).
fn stuck(state: NeighborState) -> bool {
    matches!(state, NeighborState::Connect | NeighborState::Active | NeighborState::Idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two `TcpExt` lines of a 6.x kernel, cut to the fields around the three counters.
    const NETSTAT: &str =
        "TcpExt: SyncookiesSent SyncookiesRecv TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted\n\
                           TcpExt: 0 0 7 3 11 0\n\
                           IpExt: InNoRoutes InTruncatedPkts\n\
                           IpExt: 0 0\n";

    #[test]
    fn parses_the_three_counters_from_the_tcpext_pair() {
        assert_eq!(parse(NETSTAT), Some(Md5Counters { failure: 11, not_found: 7, unexpected: 3 }));
        assert_eq!(parse("IpExt: InNoRoutes\nIpExt: 0\n"), None);
        assert_eq!(parse("TcpExt: SyncookiesSent\nTcpExt: 0\n"), None, "no MD5 fields: no TCP-MD5 in the kernel");
        assert_eq!(parse("TcpExt: TCPMD5Failure\nTcpExt: x\n"), None, "garbage is no reading");
        assert_eq!(parse("TcpExt: TCPMD5Failure TCPMD5NotFound\n"), None, "names without values");
    }

    #[test]
    fn reads_this_namespace() {
        // Every Linux kernel with TCP-MD5 (all the distributions') has the fields.
        assert!(read().is_some());
    }

    #[test]
    fn a_counter_that_went_back_counts_from_zero() {
        let a = Md5Counters { failure: 5, not_found: 2, unexpected: 9 };
        let b = Md5Counters { failure: 8, not_found: 2, unexpected: 1 };
        assert_eq!(delta(b, a), Md5Counters { failure: 3, not_found: 0, unexpected: 1 });
    }

    fn down(keyed: bool, c: Md5Counters) -> Down {
        Down { remote: "192.0.2.1".parse().unwrap(), state: NeighborState::Active, keyed, counted: c }
    }

    #[test]
    fn each_mismatch_has_its_own_words() {
        let c = |failure, not_found, unexpected| Md5Counters { failure, not_found, unexpected };
        let differ = diagnose(&down(true, c(4, 0, 0)), 0).unwrap();
        assert!(
            differ.starts_with("segments from 192.0.2.1 fail MD5 verification: the keys differ (4 segments"),
            "{differ}"
        );
        let none = diagnose(&down(true, c(0, 1, 0)), 0).unwrap();
        assert!(
            none.starts_with("the router sends no MD5 option: no key configured on the router (1 unsigned segment "),
            "{none}"
        );
        let ours = diagnose(&down(false, c(0, 0, 2)), 0).unwrap();
        assert!(ours.contains("no key is configured here: set md5 or md5_file for neighbor 192.0.2.1"), "{ours}");
        // What cannot be about this neighbor says nothing.
        assert_eq!(diagnose(&down(false, c(9, 9, 0)), 0), None, "no key here: failures and not-found are another's");
        assert_eq!(diagnose(&down(true, c(0, 0, 9)), 0), None, "a key here: unexpected is another's");
        assert_eq!(diagnose(&down(true, c(0, 0, 0)), 0), None);
        let mut up = down(true, c(4, 0, 0));
        up.state = NeighborState::Established;
        assert_eq!(diagnose(&up, 0), None);
        let shared = diagnose(&down(true, c(4, 0, 0)), 2).unwrap();
        assert!(
            shared.ends_with("the kernel counts for the whole namespace and 2 other neighbors were down too"),
            "{shared}"
        );
    }

    #[test]
    fn several_down_neighbors_share_the_namespace_counters_and_say_so() {
        use crate::status::NeighborStatus;
        let n = |ip: &str, state, md5| NeighborStatus {
            remote_ip: Some(ip.parse().unwrap()),
            state,
            md5,
            ..Default::default()
        };
        let bad = Md5Counters { failure: 2, ..Default::default() };
        let mut all = vec![
            (n("192.0.2.1", NeighborState::Active, true), Some(bad)),
            (n("192.0.2.2", NeighborState::Connect, true), Some(bad)),
            (n("192.0.2.3", NeighborState::Established, true), None),
            (n("192.0.2.4", NeighborState::Disabled, true), None),
        ];
        diagnose_all(&mut all);
        let d: Vec<Option<&str>> = all.iter().map(|(s, _)| s.md5_diagnosis.as_deref()).collect();
        assert!(
            d[0].is_some_and(
                |t| t.starts_with("segments from 192.0.2.1 fail") && t.ends_with("1 other neighbor was down too")
            ),
            "{d:?}"
        );
        assert!(d[1].is_some_and(|t| t.starts_with("segments from 192.0.2.2 fail")), "{d:?}");
        assert_eq!(d[2..], [None, None]);
        // Alone, no caveat.
        let mut one = vec![(n("192.0.2.1", NeighborState::Active, true), Some(bad))];
        diagnose_all(&mut one);
        assert!(one[0].0.md5_diagnosis.as_deref().is_some_and(|t| t.ends_with("since the session went down)")));
    }
}
