//! The hostile-peer suite: a scripted raw-TCP BGP peer plays the router toward a real anycastd
//! [`Speaker`] over loopback and sends it malformed or out-of-order input, one case at a time.
//!
//! Topology of case `n` (1-based, all on the loopback interface, no root, no TCP-MD5):
//!
//! ```text
//!   anycastd Speaker 127.66.n.1 (AS 65124, active, listen = false)
//!        │ connects to                      │ connects to
//!        ▼                                  ▼
//!   hostile raw peer 127.66.n.2:17979   well-behaved raw peer 127.66.n.3:17979
//!   (AS 65000, runs the case)            (AS 65001, Established before the case)
//! ```
//!
//! For every case the raw peer completes the handshake as far as the case needs (OpenSent: read
//! anycastd's OPEN only; OpenConfirm: also send our OPEN; Established: also exchange
//! KEEPALIVEs), sends its input, and then checks:
//! (a) the exact NOTIFICATION anycastd sends back, read off the socket and decoded with
//!     `anycastd::wire::decode_message` (code, subcode and Data), then the close; or, for
//!     RFC 7606 treat-as-withdraw / attribute-discard, that no NOTIFICATION comes, the session
//!     stays Established and `update_errors` counts the UPDATE;
//! (b) no task panicked (a panic hook counts them) and the neighbor task still works: a final
//!     KEEPALIVE on the live connection is counted in `msgs_in`;
//! (c) the second neighbor is untouched: still Established, `established_count` 1, no flap, no
//!     NOTIFICATION either way;
//! (d) the session recovers: after a reset anycastd reconnects and reaches Established again
//!     with a well-behaved peer (`established_count` + 1).
//!
//! Every case has its own Speaker and addresses and all cases run concurrently, so the IdleHold
//! backoff (1 s ± 25 % after the first failure) is paid once and the suite takes a few
//! seconds. Every wait is bounded (`tokio::time::timeout_at`). The output names each case;
//! the last line is "hostile peer: N cases passed, M failed".

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::{Direction, NeighborState, NeighborStatus, StatusDoc};
use common::bgp_bytes::*;
use common::raw_peer::{describe, run_good_peer, Next, Peer, R, STEP};
use common::speaker_status::{status_of, wait_status};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

#[allow(dead_code)]
mod common;

const PORT: u16 = 17979;
const LOCAL_AS: u32 = 65124;
const HOSTILE_AS: u32 = 65000;
const GOOD_AS: u32 = 65001;
/// Hold time of anycastd's config and of the raw peers' OPENs (unless a case says otherwise).
const HOLD: u16 = 9;
/// Upper bound for one whole case.
const CASE_LIMIT: Duration = Duration::from_secs(40);
/// IdleHold after the first failure is 1 s ± 25 %; reconnecting must happen well within this.
const RECONNECT: Duration = Duration::from_secs(8);
/// How long "no NOTIFICATION" is listened for after a kept-session case.
const QUIET: Duration = Duration::from_millis(400);

static PANICS: AtomicUsize = AtomicUsize::new(0);

const HOSTILE_ID: [u8; 4] = [198, 51, 100, 2];
const GOOD_ID: [u8; 4] = [198, 51, 100, 3];

fn hostile_open() -> Vec<u8> {
    peer_open(HOSTILE_AS, HOLD, HOSTILE_ID)
}

// ---- cases -----------------------------------------------------------------------------------

/// How far the raw peer takes the handshake before sending the case's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// anycastd sent its OPEN and waits for ours.
    OpenSent,
    /// We sent our OPEN and read anycastd's KEEPALIVE; it waits for our KEEPALIVE.
    OpenConfirm,
    /// Both KEEPALIVEs exchanged.
    Established,
}

enum Input {
    /// One write.
    Write(Vec<u8>),
    /// One octet per write, with a pause between writes.
    Trickle(Vec<u8>),
    /// Written by another task while the answer is read (the write may fail once anycastd
    /// closes).
    Flood(Vec<u8>),
    /// Nothing more: the peer goes silent.
    Silence,
    /// The peer closes its side of the connection (FIN).
    Close,
}

enum Expect {
    /// anycastd sends this NOTIFICATION (code, subcode, Data) and closes.
    Notify(u8, u8, Vec<u8>),
    /// anycastd closes without sending a NOTIFICATION, and shows the one it received.
    Silent,
    /// anycastd closes without sending a NOTIFICATION (the peer closed first).
    Closed,
    /// No NOTIFICATION, the session stays Established; these deltas show in status
    /// (`rx_v4`: prefixes received, when the case fixes it).
    Kept { update_errors: u64, rx_v4: Option<u64>, msgs_in: u64 },
    /// The input is a complete handshake that anycastd must accept.
    Establishes,
}

struct Case {
    name: &'static str,
    phase: Phase,
    input: Input,
    expect: Expect,
    max_prefixes: Option<u32>,
    /// Hold time in the hostile peer's OPEN.
    peer_hold: u16,
    /// Window after the input in which the NOTIFICATION must arrive (min, max).
    window: (Duration, Duration),
}

fn case(name: &'static str, phase: Phase, input: Input, expect: Expect) -> Case {
    Case { name, phase, input, expect, max_prefixes: None, peer_hold: HOLD, window: (Duration::ZERO, STEP) }
}

fn notify(code: u8, subcode: u8, data: &[u8]) -> Expect {
    Expect::Notify(code, subcode, data.to_vec())
}

/// RFC 7606 treat-as-withdraw: one UPDATE error, the announced /24 counted as withdrawn.
fn taw() -> Expect {
    Expect::Kept { update_errors: 1, rx_v4: Some(0), msgs_in: 1 }
}

fn w(b: Vec<u8>) -> Input {
    Input::Write(b)
}

fn cases() -> Vec<Case> {
    use Phase::*;
    let id = HOSTILE_ID;
    let caps = std_caps(HOSTILE_AS);
    let mut v = Vec::new();

    // -- Message header (RFC 4271 §6.1) --
    let mut bad_marker_open = hostile_open();
    bad_marker_open[5] = 0;
    v.push(case("header: bad marker (OPEN in OpenSent)", OpenSent, w(bad_marker_open), notify(1, 1, &[])));
    let mut bad_marker = keepalive();
    bad_marker[0] = 0xfe;
    v.push(case("header: bad marker (Established)", Established, w(bad_marker), notify(1, 1, &[])));
    v.push(case("header: length 18 < 19", Established, w(header(18, 4)), notify(1, 2, &[0, 18])));
    v.push(case("header: UPDATE length 4097 > 4096", Established, w(header(4097, 2)), notify(1, 2, &[0x10, 0x01])));
    let mut ka20 = header(20, 4);
    ka20.push(0);
    v.push(case("header: KEEPALIVE length 20", Established, w(ka20), notify(1, 2, &[0, 20])));
    let mut open28 = header(28, 1);
    open28.extend_from_slice(&[4, 0xfd, 0xe8, 0, 9, 198, 51, 100, 2]);
    v.push(case("header: OPEN length 28 < 29", OpenSent, w(open28), notify(1, 2, &[0, 28])));
    let mut notif20 = header(20, 3);
    notif20.push(6);
    v.push(case("header: NOTIFICATION length 20 < 21", Established, w(notif20), notify(1, 2, &[0, 20])));
    v.push(case(
        "header: bad marker in 1-octet writes",
        Established,
        Input::Trickle(bad_marker_trickle()),
        notify(1, 1, &[]),
    ));
    v.push(case(
        "header: UPDATE length 4097 in 1-octet writes (answered before the body)",
        Established,
        Input::Trickle(header(4097, 2)),
        notify(1, 2, &[0x10, 0x01]),
    ));
    v.push(case("header: unknown message type 9", Established, w(msg(9, &[])), notify(1, 3, &[9])));
    let mut flood = header(0xffff, 2);
    flood.extend_from_slice(&garbage(2 << 20));
    v.push(case(
        "header: 2 MB of garbage after an UPDATE header of length 65535",
        Established,
        Input::Flood(flood),
        notify(1, 2, &[0xff, 0xff]),
    ));

    // -- OPEN (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 7607) --
    v.push(case("open: version 3", OpenSent, w(open_with(3, 65000, HOLD, id, &caps)), notify(2, 1, &[0, 4])));
    let no_as4 = cap_param(&[MP_V4, ROUTE_REFRESH]);
    v.push(case("open: AS 0", OpenSent, w(open_with(4, 0, HOLD, id, &no_as4)), notify(2, 2, &[])));
    v.push(case("open: peer AS 65099, configured 65000", OpenSent, w(peer_open(65099, HOLD, id)), notify(2, 2, &[])));
    v.push(case(
        "open: 4-octet AS capability 4200000000, configured 65000",
        OpenSent,
        w(peer_open(4_200_000_000, HOLD, id)),
        notify(2, 2, &[]),
    ));
    v.push(case("open: hold time 1", OpenSent, w(open_with(4, 65000, 1, id, &caps)), notify(2, 6, &[])));
    v.push(case("open: hold time 2", OpenSent, w(open_with(4, 65000, 2, id, &caps)), notify(2, 6, &[])));
    v.push(case("open: BGP ID 0.0.0.0", OpenSent, w(open_with(4, 65000, HOLD, [0; 4], &caps)), notify(2, 3, &[])));
    v.push(case(
        "open: BGP ID 224.0.0.1",
        OpenSent,
        w(open_with(4, 65000, HOLD, [224, 0, 0, 1], &caps)),
        notify(2, 3, &[]),
    ));
    v.push(case(
        "open: BGP ID 255.255.255.255",
        OpenSent,
        w(open_with(4, 65000, HOLD, [255; 4], &caps)),
        notify(2, 3, &[]),
    ));
    let mut auth_param = vec![1, 1, 0];
    auth_param.extend_from_slice(&caps);
    v.push(case(
        "open: unsupported optional parameter type 1",
        OpenSent,
        w(open_with(4, 65000, HOLD, id, &auth_param)),
        notify(2, 4, &[]),
    ));
    v.push(case(
        "open: truncated capability (code without length)",
        OpenSent,
        w(open_with(4, 65000, HOLD, id, &[2, 1, 65])),
        notify(2, 0, &[]),
    ));
    v.push(case(
        "open: capability overruns its parameter",
        OpenSent,
        w(open_with(4, 65000, HOLD, id, &[2, 4, 65, 4, 0, 0])),
        notify(2, 0, &[]),
    ));
    v.push(case(
        "open: 4-octet AS capability of 3 octets",
        OpenSent,
        w(open_with(4, 65000, HOLD, id, &[2, 5, 65, 3, 0, 0, 1])),
        notify(2, 0, &[]),
    ));
    let opt_len = u8::try_from(caps.len() + 1).expect("fits");
    v.push(case(
        "open: Opt Parm Len one more than the parameters",
        OpenSent,
        w(open_raw(4, 65000, HOLD, id, opt_len, &caps)),
        notify(2, 0, &[]),
    ));
    // RFC 9072: Opt Parm Len 255 and type 255 select 2-octet lengths.
    // [255, ext len (2)] then the Capabilities parameter as [2, len (2), value].
    let mut ext = vec![255, 0, u8::try_from(caps.len() + 2).expect("fits"), 2, 0];
    ext.extend_from_slice(&caps[1..]);
    v.push(case(
        "open: RFC 9072 extended length one more than the parameters",
        OpenSent,
        w(open_raw(4, 65000, HOLD, id, 255, &ext)),
        notify(2, 0, &[]),
    ));
    v.push(case(
        "open: RFC 9072 header cut short",
        OpenSent,
        w(open_raw(4, 65000, HOLD, id, 255, &[255, 0])),
        notify(2, 0, &[]),
    ));
    // RFC 5492 §4 leaves repeated capabilities to each capability's specification; identical
    // repeats are harmless, and anycastd accepts them (the first instance counts).
    let dup = cap_param(&[MP_V4, MP_V4, ROUTE_REFRESH, ROUTE_REFRESH, &as4(HOSTILE_AS), &as4(HOSTILE_AS)]);
    let mut dup_open = open_with(4, 65000, HOLD, id, &dup);
    dup_open.extend_from_slice(&keepalive());
    v.push(case("open: duplicate capabilities (accepted)", OpenSent, w(dup_open), Expect::Establishes));

    // -- FSM (RFC 4271 §8.2.2, RFC 6608: Data = the unexpected message type) --
    v.push(case("fsm: NOTIFICATION in OpenSent (no answer)", OpenSent, w(notification(6, 2)), Expect::Silent));
    v.push(case("fsm: UPDATE in OpenSent", OpenSent, w(update(&[], &[], &[])), notify(5, 1, &[2])));
    v.push(case("fsm: KEEPALIVE in OpenSent", OpenSent, w(keepalive()), notify(5, 1, &[4])));
    v.push(case("fsm: ROUTE-REFRESH in OpenSent", OpenSent, w(msg(5, &[0, 1, 0, 1])), notify(5, 1, &[5])));
    v.push(case("fsm: OPEN in OpenConfirm", OpenConfirm, w(hostile_open()), notify(5, 2, &[1])));
    v.push(case("fsm: UPDATE in OpenConfirm", OpenConfirm, w(update(&[], &[], &[])), notify(5, 2, &[2])));
    v.push(case("fsm: NOTIFICATION in OpenConfirm (no answer)", OpenConfirm, w(notification(6, 2)), Expect::Silent));
    v.push(case("fsm: ROUTE-REFRESH in OpenConfirm", OpenConfirm, w(msg(5, &[0, 1, 0, 1])), notify(5, 2, &[5])));
    v.push(case("tcp: peer closes right after anycastd's OPEN", OpenSent, Input::Close, Expect::Closed));
    v.push(case("fsm: OPEN in Established", Established, w(hostile_open()), notify(5, 3, &[1])));
    v.push(case("fsm: NOTIFICATION in Established (no answer)", Established, w(notification(6, 4)), Expect::Silent));

    // -- ROUTE-REFRESH (RFC 7313 §5: Data = the whole message) --
    let borr = msg(5, &[0, 1, 1, 1, 0]);
    v.push(case("route-refresh: BoRR of 24 octets", Established, w(borr.clone()), notify(7, 1, &borr)));
    // RFC 7313 §5: a reserved subtype is ignored whatever its length.
    v.push(case(
        "route-refresh: reserved subtype 3 with 1 extra octet (ignored)",
        Established,
        w(msg(5, &[0, 1, 3, 1, 0])),
        Expect::Kept { update_errors: 0, rx_v4: Some(0), msgs_in: 1 },
    ));
    let mut rr22 = header(22, 5);
    rr22.extend_from_slice(&[0, 1, 0]);
    v.push(case("route-refresh: length 22 < 23", Established, w(rr22), notify(1, 2, &[0, 22])));

    // -- Timers and the byte stream --
    let mut silent =
        case("timer: peer silent after Established, hold 3", Established, Input::Silence, notify(4, 0, &[]));
    silent.peer_hold = 3;
    silent.window = (Duration::from_millis(2500), Duration::from_secs(4));
    v.push(silent);
    let mut silent = case("timer: peer silent in OpenConfirm, hold 3", OpenConfirm, Input::Silence, notify(4, 0, &[]));
    silent.peer_hold = 3;
    silent.window = (Duration::from_millis(2500), Duration::from_secs(4));
    v.push(silent);
    v.push(case(
        "stream: 10,000 KEEPALIVEs in one write",
        Established,
        w(keepalive().repeat(10_000)),
        Expect::Kept { update_errors: 0, rx_v4: Some(0), msgs_in: 10_000 },
    ));
    v.push(case(
        "stream: UPDATE in 1-octet writes",
        Established,
        Input::Trickle(good_update_with(&[])),
        Expect::Kept { update_errors: 0, rx_v4: Some(1), msgs_in: 1 },
    ));

    // -- UPDATE (RFC 4271 §6.3, RFC 7606) --
    v.push(case(
        "update: ORIGIN flagged optional (treat-as-withdraw)",
        Established,
        w(update_attrs(&[&[0xc0, 1, 1, 0], AS_PATH, NEXT_HOP])),
        taw(),
    ));
    let mp_trans = mp_reach_v6(0xc0, &V6_NEXT_HOP, V6_NLRI);
    v.push(case(
        "update: MP_REACH_NLRI flagged transitive",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &mp_trans], &[])),
        notify(3, 4, &mp_trans),
    ));
    v.push(case(
        "update: ORIGIN length 2 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[&[0x40, 1, 2, 0, 0], AS_PATH, NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: NEXT_HOP length 5 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, AS_PATH, &[0x40, 3, 5, 192, 0, 2, 2, 0]])),
        taw(),
    ));
    v.push(case(
        "update: MED length 3 (treat-as-withdraw)",
        Established,
        w(good_update_with(&[&[0x80, 4, 3, 0, 0, 1]])),
        taw(),
    ));
    v.push(case(
        "update: COMMUNITIES length 3 (treat-as-withdraw)",
        Established,
        w(good_update_with(&[&[0xc0, 8, 3, 0, 0, 1]])),
        taw(),
    ));
    v.push(case(
        "update: ORIGIN value 7 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: ORIGIN missing (treat-as-withdraw)",
        Established,
        w(update_attrs(&[AS_PATH, NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: AS_PATH missing (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: NEXT_HOP missing (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, AS_PATH])),
        taw(),
    ));
    let unknown_wk: &[u8] = &[0x40, 100, 1, 7];
    v.push(case(
        "update: unrecognized well-known attribute 100",
        Established,
        w(good_update_with(&[unknown_wk])),
        notify(3, 2, unknown_wk),
    ));
    v.push(case(
        "update: AS_PATH segment type 5 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, &[0x40, 2, 6, 5, 1, 0, 0, 0xfd, 0xe8], NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: AS_PATH zero-length segment (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, &[0x40, 2, 2, 2, 0], NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: AS_PATH segment overruns the attribute (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, &[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe8], NEXT_HOP])),
        taw(),
    ));
    v.push(case(
        "update: NEXT_HOP 0.0.0.0 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, AS_PATH, &[0x40, 3, 4, 0, 0, 0, 0]])),
        taw(),
    ));
    v.push(case(
        "update: NEXT_HOP 224.0.0.1 (treat-as-withdraw)",
        Established,
        w(update_attrs(&[ORIGIN, AS_PATH, &[0x40, 3, 4, 224, 0, 0, 1]])),
        taw(),
    ));
    v.push(case(
        "update: NLRI prefix length 33",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &[33, 198, 51, 100, 1, 0])),
        notify(3, 10, &[]),
    ));
    v.push(case(
        "update: withdrawn prefix cut short",
        Established,
        w(update(&[24, 198, 51], &[], &[])),
        notify(3, 10, &[]),
    ));
    let v6_129 = mp_reach_v6(0x80, &V6_NEXT_HOP, &[129, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.push(case(
        "update: MP_REACH_NLRI IPv6 prefix length 129",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &v6_129], &[])),
        notify(3, 9, &v6_129),
    ));
    let nh5 = mp_reach_v6(0x80, &[0x20, 0x01, 0x0d, 0xb8, 0], V6_NLRI);
    v.push(case(
        "update: MP_REACH_NLRI next hop length 5",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &nh5], &[])),
        notify(3, 9, &nh5),
    ));
    let unreach2: &[u8] = &[0x80, 15, 2, 0, 2];
    v.push(case(
        "update: MP_UNREACH_NLRI of 2 octets",
        Established,
        w(update(&[], &[unreach2], &[])),
        notify(3, 9, unreach2),
    ));
    let unreach_cut: &[u8] = &[0x80, 15, 6, 0, 2, 1, 64, 0x20, 0x01];
    v.push(case(
        "update: MP_UNREACH_NLRI prefix cut short",
        Established,
        w(update(&[], &[unreach_cut], &[])),
        notify(3, 9, unreach_cut),
    ));
    let mut mp_cut = mp_reach_v6(0x80, &V6_NEXT_HOP, V6_NLRI);
    mp_cut.truncate(10);
    v.push(case(
        "update: MP_REACH_NLRI overruns Total Path Attribute Length",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &mp_cut], &[])),
        notify(3, 1, &[]),
    ));
    v.push(case(
        "update: MED overruns Total Path Attribute Length (treat-as-withdraw)",
        Established,
        w(good_update_with(&[&[0x80, 4, 8, 0, 1]])),
        taw(),
    ));
    // Withdrawn Routes Length 50 in a message with 4 octets after it.
    let wl_body = [0, 50, 24, 198, 51, 100];
    v.push(case(
        "update: Withdrawn Routes Length past the message",
        Established,
        w(msg(2, &wl_body)),
        notify(3, 1, &[]),
    ));
    let al_body = [0, 0, 0, 50, 0x40, 1, 1, 0];
    v.push(case(
        "update: Total Path Attribute Length past the message",
        Established,
        w(msg(2, &al_body)),
        notify(3, 1, &[]),
    ));
    let mp = mp_reach_v6(0x80, &V6_NEXT_HOP, V6_NLRI);
    v.push(case(
        "update: MP_REACH_NLRI twice",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &mp, &mp], &[])),
        notify(3, 1, &[]),
    ));
    v.push(case(
        "update: AS4_PATH segment type 9 (attribute discard, route kept)",
        Established,
        w(good_update_with(&[&[0xc0, 17, 6, 9, 1, 0, 0, 0xfd, 0xe8]])),
        Expect::Kept { update_errors: 1, rx_v4: Some(1), msgs_in: 1 },
    ));
    v.push(case(
        "update: AGGREGATOR length 5 (attribute discard, route kept)",
        Established,
        w(good_update_with(&[&[0xc0, 7, 5, 0, 0, 0xfd, 0xe8, 1]])),
        Expect::Kept { update_errors: 1, rx_v4: Some(1), msgs_in: 1 },
    ));
    let eleven: Vec<u8> = (1..=11u8).flat_map(|i| [32, 198, 51, 100, i]).collect();
    let mut max = case(
        "update: 11 prefixes over max_prefixes 10",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &eleven)),
        notify(6, 1, &[0, 1, 1, 0, 0, 0, 10]),
    );
    max.max_prefixes = Some(10);
    v.push(max);
    let v6_eleven: Vec<u8> = (1..=11u8).flat_map(|i| [64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, i]).collect();
    let mp11 = mp_reach_v6(0x80, &V6_NEXT_HOP, &v6_eleven);
    let mut max = case(
        "update: 11 IPv6 prefixes over max_prefixes 10",
        Established,
        w(update(&[], &[ORIGIN, AS_PATH, &mp11], &[])),
        notify(6, 1, &[0, 2, 1, 0, 0, 0, 10]),
    );
    max.max_prefixes = Some(10);
    v.push(max);
    // RFC 4271 §9: a route announced again replaces the one held (implicit withdraw); the
    // limit counts routes held, not announcements.
    let mut again = case(
        "update: one prefix announced 11 times under max_prefixes 10 (no Cease)",
        Established,
        w(good_update_with(&[]).repeat(11)),
        Expect::Kept { update_errors: 0, rx_v4: None, msgs_in: 11 },
    );
    again.max_prefixes = Some(10);
    v.push(again);
    // Withdrawing prefixes that were never announced must not make room under the limit.
    let ten: Vec<u8> = (1..=10u8).flat_map(|i| [32, 198, 51, 100, i]).collect();
    let unknown: Vec<u8> = (1..=5u8).flat_map(|i| [32, 192, 0, 2, i]).collect();
    let mut burst = update(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &ten);
    burst.extend_from_slice(&update(&unknown, &[], &[]));
    burst.extend_from_slice(&update(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &[32, 198, 51, 100, 11]));
    let mut bypass = case(
        "update: withdrawing unknown prefixes does not lift max_prefixes 10",
        Established,
        w(burst),
        notify(6, 1, &[0, 1, 1, 0, 0, 0, 10]),
    );
    bypass.max_prefixes = Some(10);
    v.push(bypass);
    v
}

// ---- speaker side ----------------------------------------------------------------------------

fn addr(n: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 66, n, host)
}

fn config(n: u8, max_prefixes: Option<u32>) -> R<Config> {
    let mp = max_prefixes.map(|m| format!("max_prefixes = {m}\n")).unwrap_or_default();
    let (local, hostile, good) = (addr(n, 1), addr(n, 2), addr(n, 3));
    let text = format!(
        "[bgp]\nlocal_as = {LOCAL_AS}\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = {HOLD}\n\
         connect_retry = 1\nport = {PORT}\nlisten = false\n\
         [[bgp.neighbor]]\nremote_ip = \"{hostile}\"\nremote_as = {HOSTILE_AS}\nport = {PORT}\n{mp}\
         [[bgp.neighbor]]\nremote_ip = \"{good}\"\nremote_as = {GOOD_AS}\nport = {PORT}\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    );
    Config::from_str(&text, Path::new("hostile_peer.toml")).map_err(|e| format!("config: {e}"))
}

// ---- running one case ------------------------------------------------------------------------

async fn run_case(n: u8, c: Case) -> R<()> {
    let (hostile_ip, good_ip) = (addr(n, 2), addr(n, 3));
    let bind =
        |ip: Ipv4Addr| async move { TcpListener::bind((ip, PORT)).await.map_err(|e| format!("bind {ip}:{PORT}: {e}")) };
    let hostile_l = bind(hostile_ip).await?;
    let good_l = bind(good_ip).await?;
    let cfg = config(n, c.max_prefixes)?;
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone()))
        .await
        .map_err(|e| format!("speaker: {e}"))?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut good_task = None;
    let r = async {
        // (c) the second neighbor comes up first.
        let mut good = Peer::accept(&good_l, STEP, "good").await?;
        good.establish(&peer_open(GOOD_AS, HOLD, GOOD_ID)).await?;
        good_task = Some(run_good_peer(good, events.clone()));
        wait_status(&sp, good_ip, STEP, "good neighbor Established", |s| s.state == NeighborState::Established).await?;
        drive(&sp, &c, hostile_ip, &hostile_l).await?;
        let g = status_of(&sp, good_ip)?;
        let seen = events.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if g.state != NeighborState::Established || g.established_count != 1 || g.flaps != 0 {
            return Err(format!("second neighbor disturbed: {g:?}"));
        }
        if g.last_notification_sent.is_some()
            || g.last_notification_received.is_some()
            || !g.notifications.is_empty()
            || !seen.is_empty()
        {
            return Err(format!("second neighbor saw an error: {g:?} / {seen:?}"));
        }
        Ok(())
    }
    .await;
    sp.shutdown("hostile peer case over", Duration::from_secs(1)).await;
    if let Some(t) = good_task {
        t.abort();
    }
    r
}

/// The NOTIFICATION of the case is counted once more in the neighbor's status, under its
/// direction, code and subcode, and `/metrics` shows the count.
fn counted_once(before: &NeighborStatus, after: &NeighborStatus, d: Direction, code: u8, sub: u8) -> R<()> {
    let count = |s: &NeighborStatus| {
        s.notifications
            .iter()
            .find(|n| n.direction == d && n.code == Some(code) && n.subcode == Some(sub))
            .map_or(0, |n| n.count)
    };
    let want = count(before) + 1;
    if count(after) != want {
        return Err(format!("{} NOTIFICATION {code}/{sub} not counted once: {after:?}", d.name()));
    }
    let doc = StatusDoc { neighbors: vec![after.clone()], ..Default::default() };
    let text = anycastd::metrics::render(&doc, &Default::default());
    let ip = after.remote_ip.map(|i| i.to_string()).unwrap_or_default();
    let line = format!(
        "anycastd_neighbor_notifications_total{{neighbor=\"{ip}\",direction=\"{}\",code=\"{code}\",subcode=\"{sub}\"}} {want}\n",
        d.name()
    );
    if !text.contains(&line) {
        return Err(format!("/metrics lacks {line:?}"));
    }
    Ok(())
}

/// The hostile side of a case: handshake up to the phase, input, checks (a), (b), (d).
async fn drive(sp: &Speaker, c: &Case, ip: Ipv4Addr, l: &TcpListener) -> R<()> {
    let mut p = Peer::accept(l, STEP, "hostile").await?;
    let open = peer_open(HOSTILE_AS, c.peer_hold, HOSTILE_ID);
    match c.phase {
        Phase::OpenSent => {
            p.r.expect_type(1, "anycastd's OPEN").await?;
        }
        Phase::OpenConfirm => p.reach_open_confirm(&open).await?,
        Phase::Established => {
            p.establish(&open).await?;
            wait_status(sp, ip, STEP, "Established", |s| s.state == NeighborState::Established).await?;
        }
    }
    let before = status_of(sp, ip)?;
    let t0 = Instant::now();
    let mut flood = None;
    match &c.input {
        Input::Write(b) => p.send(b).await?,
        Input::Trickle(b) => {
            for x in b {
                p.send(&[*x]).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        Input::Flood(b) => {
            let mut wr = p.wr.take().ok_or("no write half")?;
            let b = b.clone();
            // The write fails (reset) or stalls once anycastd closes: bounded either way.
            flood = Some(tokio::spawn(async move {
                let _ = timeout(Duration::from_secs(10), wr.write_all(&b)).await;
            }));
        }
        Input::Silence => {}
        Input::Close => {
            if let Some(mut wr) = p.wr.take() {
                let _ = timeout(STEP, wr.shutdown()).await;
            }
        }
    }

    let recover = match &c.expect {
        Expect::Notify(code, sub, data) => {
            let got = p.r.notification(c.window.1 + Duration::from_secs(1)).await?;
            let took = t0.elapsed();
            let Some((gc, gs, gd)) = got else {
                return Err(format!("connection closed without a NOTIFICATION (wanted {code}/{sub})"));
            };
            if (gc, gs, &gd) != (*code, *sub, data) {
                return Err(format!("NOTIFICATION {gc}/{gs} data {gd:02x?}, wanted {code}/{sub} data {data:02x?}"));
            }
            if took < c.window.0 || took > c.window.1 {
                return Err(format!("NOTIFICATION after {took:?}, wanted within {:?}..{:?}", c.window.0, c.window.1));
            }
            match p.r.next(Instant::now() + STEP).await? {
                Next::Eof => {}
                Next::Msg(m) => return Err(format!("{} after the NOTIFICATION", describe(&m))),
                Next::Timeout => return Err("connection not closed after the NOTIFICATION".into()),
            }
            let s = status_of(sp, ip)?;
            if !s.last_notification_sent.as_deref().is_some_and(|t| t.contains(&format!("({code})"))) {
                return Err(format!("status does not show the NOTIFICATION sent: {s:?}"));
            }
            counted_once(&before, &s, Direction::Sent, *code, *sub)?;
            true
        }
        Expect::Silent => {
            if let Some((gc, gs, _)) = p.r.notification(STEP).await? {
                return Err(format!("anycastd answered a NOTIFICATION with NOTIFICATION {gc}/{gs}"));
            }
            let s = wait_status(sp, ip, STEP, "NOTIFICATION received in status", |s| {
                s.last_notification_received.is_some()
            })
            .await?;
            if s.last_notification_sent.is_some() {
                return Err(format!("status shows a NOTIFICATION sent: {s:?}"));
            }
            if let Input::Write(b) = &c.input {
                if let (Some(&code), Some(&sub)) = (b.get(19), b.get(20)) {
                    counted_once(&before, &s, Direction::Received, code, sub)?;
                }
            }
            true
        }
        Expect::Closed => {
            if let Some((gc, gs, _)) = p.r.notification(STEP).await? {
                return Err(format!("anycastd sent NOTIFICATION {gc}/{gs} to a peer that closed"));
            }
            true
        }
        Expect::Kept { update_errors, rx_v4, msgs_in } => {
            let want = |s: &NeighborStatus| {
                s.update_errors == before.update_errors + update_errors
                    && rx_v4.is_none_or(|r| s.prefixes_received_v4 == r)
                    && s.msgs_in == before.msgs_in + msgs_in
            };
            let what = format!("update_errors +{update_errors}, prefixes {rx_v4:?}, msgs_in +{msgs_in}");
            if let Err(e) = wait_status(sp, ip, STEP, &what, want).await {
                let answer = p.r.quiet(Duration::from_millis(100)).await.err().unwrap_or_default();
                return Err(format!("{e} {answer}"));
            }
            p.r.quiet(QUIET).await?;
            let s = status_of(sp, ip)?;
            if s.state != NeighborState::Established || s.established_count != before.established_count || !want(&s) {
                return Err(format!("session not kept as it was: before {before:?}, after {s:?}"));
            }
            false
        }
        Expect::Establishes => {
            p.r.expect_type(4, "anycastd's KEEPALIVE").await?;
            wait_status(sp, ip, STEP, "Established", |s| s.state == NeighborState::Established).await?;
            p.r.quiet(QUIET).await?;
            false
        }
    };
    if let Some(f) = flood {
        let _ = timeout(STEP, f).await;
    }

    // (d) recovery: anycastd reconnects after IdleHold and reaches Established again.
    if recover {
        p = Peer::accept(l, RECONNECT, "hostile (reconnect)").await?;
        p.establish(&hostile_open()).await?;
        let want = before.established_count + 1;
        wait_status(sp, ip, STEP, "Established again", |s| {
            s.state == NeighborState::Established && s.established_count == want
        })
        .await?;
    }
    // (b) the neighbor task still works: one more KEEPALIVE is counted.
    let s = status_of(sp, ip)?;
    p.send(&keepalive()).await?;
    wait_status(sp, ip, STEP, "final KEEPALIVE counted", |x| x.msgs_in == s.msgs_in + 1).await?;
    p.r.quiet(Duration::from_millis(50)).await
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_peer() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let started = std::time::Instant::now();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    assert!(cases.len() < 255, "one 127.66.n.0/24 per case");
    let mut tasks = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let n = u8::try_from(i + 1).expect("fewer than 255 cases");
        let name = c.name;
        tasks.push((name, tokio::spawn(async move { timeout(CASE_LIMIT, run_case(n, c)).await })));
    }
    let (mut passed, mut failed) = (0usize, Vec::new());
    for (name, t) in tasks {
        let r = match t.await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(format!("case did not finish within {CASE_LIMIT:?}")),
            Err(e) => Err(format!("case task failed: {e}")),
        };
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed.push(name);
            }
        }
    }
    let panics = PANICS.load(Ordering::SeqCst);
    println!(
        "hostile peer: {passed} cases passed, {} failed ({panics} panics, {:.1} s)",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(panics, 0, "a task panicked");
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}
