//! The receive path of a [`Session`]: cutting the byte stream into messages (keeping at most
//! one incomplete message), and what each message does in each state (RFC 4271 §8.2.2 message
//! events, RFC 6608 FSM errors, RFC 7606 UPDATE errors, RFC 2918/7313 route refresh, RFC 4486
//! prefix limit). Each message is decoded once, by the decoder of the type its header names.
//! Received routes are counted, never installed; with a prefix limit the set of prefixes held
//! is kept to enforce it. What we send in answer lives in `send.rs`. No I/O, no clock.

use super::fsm::Session;
use super::negotiate;
use super::{Action, State};
use crate::wire::header::{declared_len, HEADER_LEN};
use crate::wire::notification::{cease, code, fsm as fsm_sub};
use crate::wire::route_refresh::SUBTYPE_NORMAL;
use crate::wire::{frame, AfiSafi, Frame, MessageType, Notification, Open, RouteRefresh, SessionParams, Update};
use std::time::Instant;

impl Session {
    /// Cuts `chunk` into messages and handles each. A message left incomplete by the previous
    /// chunk is completed first, copying only its own octets; the rest of the chunk is parsed
    /// in place, so a chunk of 10,000 KEEPALIVEs is never copied, and at most one incomplete
    /// message is ever kept.
    pub(super) fn receive(&mut self, now: Instant, chunk: &[u8], out: &mut Vec<Action>) {
        if !self.state.has_connection() {
            return; // Nothing is bound to the session: stale octets.
        }
        let mut chunk = chunk;
        if !self.rx.is_empty() {
            while let Ok(None) = frame(&self.rx, self.max_len()) {
                let take = pending_need(&self.rx).min(chunk.len());
                let Some((head, rest)) = chunk.split_at_checked(take) else { break };
                if head.is_empty() {
                    break;
                }
                self.rx.extend_from_slice(head);
                chunk = rest;
            }
            let mut buf = std::mem::take(&mut self.rx);
            let used = self.process(now, &buf, out);
            if !self.state.has_connection() {
                return;
            }
            if used < buf.len() {
                // Still incomplete: the whole chunk went into it.
                self.rx = buf;
                return;
            }
            buf.clear();
            self.rx = buf; // keep the allocation (at most one message long)
        }
        let used = self.process(now, chunk, out);
        if self.state.has_connection() {
            self.rx.extend_from_slice(chunk.get(used..).unwrap_or_default());
        }
    }

    fn max_len(&self) -> usize {
        self.params().unwrap_or_else(SessionParams::before_open).max_message_len()
    }

    /// Handles the whole messages at the start of `data`; returns how many octets they took.
    fn process(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) -> usize {
        let mut pos = 0;
        while self.state.has_connection() {
            let rest = data.get(pos..).unwrap_or_default();
            match frame(rest, self.max_len()) {
                Ok(None) => break,
                Ok(Some(f)) => {
                    let whole = rest.get(..f.len).unwrap_or_default();
                    pos += f.len;
                    self.message(now, f, whole, out);
                }
                Err(e) => {
                    // Event 21 (BGPHeaderErr) in any state with a connection.
                    let why = format!("message header error: {}", e.reason);
                    self.fail(now, Some(e.notification), why, out);
                    break;
                }
            }
        }
        pos
    }

    /// RFC 6608 §3: the FSM Error subcode names the state the message was unexpected in.
    fn unexpected(&mut self, now: Instant, t: MessageType, out: &mut Vec<Action>) {
        let sub = match self.state {
            State::OpenSent => fsm_sub::UNEXPECTED_IN_OPENSENT,
            State::OpenConfirm => fsm_sub::UNEXPECTED_IN_OPENCONFIRM,
            State::Established => fsm_sub::UNEXPECTED_IN_ESTABLISHED,
            _ => fsm_sub::UNSPECIFIED,
        };
        let why = format!("unexpected {} in {}", t.name(), self.state);
        // RFC 6608 §3: "The Data field is a 1-octet, unsigned integer that indicates the type
        // of the unexpected message."
        self.fail(now, Some(Notification::new(code::FSM, sub, vec![t as u8])), why, out);
    }

    fn message(&mut self, now: Instant, f: Frame, whole: &[u8], out: &mut Vec<Action>) {
        self.stats.msgs_in.bump(f.msg_type);
        let body = whole.get(HEADER_LEN..).unwrap_or_default();
        match (self.state, f.msg_type) {
            (_, MessageType::Notification) => match Notification::decode(body, whole) {
                Ok(n) => self.notification_received(now, n, out),
                Err(e) => self.fail(now, Some(e.notification), format!("bad NOTIFICATION: {}", e.reason), out),
            },
            (State::OpenSent, MessageType::Open) => self.open_received(now, body, out),
            (State::OpenConfirm, MessageType::Keepalive) => self.establish(now, out),
            // Established: "If the local system receives a KEEPALIVE message (Event 26), the
            // local system: restarts its HoldTimer, if the negotiated HoldTime value is
            // non-zero, and remains in the Established state."
            (State::Established, MessageType::Keepalive) => self.restart_hold(now),
            (State::Established, MessageType::Update) => self.update_received(now, body, out),
            (State::Established, MessageType::RouteRefresh) => self.refresh_received(now, body, whole, out),
            // OpenSent: "If a … KeepAliveMsg (Event 26), UpdateMsg (Event 27) … the local
            // system: sends the NOTIFICATION with the Error Code Finite State Machine Error"
            // — and likewise in OpenConfirm, and for an OPEN on an Established connection.
            (_, t) => self.unexpected(now, t, out),
        }
    }

    /// NotifMsg (Event 25) in any state with a connection: "sets the ConnectRetryTimer to zero,
    /// releases all BGP resources, drops the TCP connection, increments the
    /// ConnectRetryCounter by 1, … and changes its state to Idle." No NOTIFICATION is sent
    /// back. NotifMsgVerErr (Event 24) in OpenSent/OpenConfirm: the same without the counter;
    /// we still back off, so a peer that refuses version 4 is not hammered.
    fn notification_received(&mut self, now: Instant, n: Notification, out: &mut Vec<Action>) {
        self.stats.notifications_received.add(n.code, n.subcode, 1);
        self.stats.last_notification_received = Some(n.clone());
        let why = format!("NOTIFICATION received in {}: {n}", self.state);
        out.push(Action::NotificationReceived(n));
        self.fail(now, None, why, out);
    }

    /// BGPOpen (Event 19) in OpenSent: "If the BGP message header checking (Event 21) or OPEN
    /// message checking detects an error (Event 22) …, the local system: sends a NOTIFICATION
    /// message with the appropriate error code, … and changes its state to Idle." Otherwise:
    /// "resets the DelayOpenTimer to zero, sets the BGP ConnectRetryTimer to zero, sends a
    /// KEEPALIVE message, and sets a KeepaliveTimer (via the text below) sets the HoldTimer
    /// according to the negotiated value (see Section 4.2), changes its state to OpenConfirm."
    fn open_received(&mut self, now: Instant, body: &[u8], out: &mut Vec<Action>) {
        let open = match Open::decode(body) {
            Ok(o) => o,
            Err(e) => {
                let why = format!("bad OPEN: {}", e.reason);
                self.fail(now, Some(e.notification), why, out);
                return;
            }
        };
        let neg = match negotiate::negotiate(&self.cfg, &open) {
            Ok(n) => n,
            Err(e) => {
                let why = format!("OPEN refused: {}", e.reason);
                self.fail(now, Some(e.notification), why, out);
                return;
            }
        };
        let reason = format!(
            "OPEN received from AS {} id {}, hold time {}{}",
            neg.peer_as,
            neg.peer_id,
            neg.hold_time,
            if neg.params.four_octet_as { "" } else { ", 2-octet AS peer" }
        );
        if neg.families.is_empty() {
            out.push(Action::Warning(format!(
                "peer {} negotiated neither IPv4 nor IPv6 unicast: nothing can be advertised",
                neg.peer_id
            )));
        }
        self.peer_open = Some(open);
        self.neg = Some(neg);
        self.timers.connect_retry = None;
        self.send_keepalive(now, out);
        self.restart_hold(now);
        self.set_state(State::OpenConfirm, reason, out);
    }

    /// OpenConfirm: "If the local system receives a KEEPALIVE message (KeepAliveMsg
    /// (Event 26)), the local system: restarts the HoldTimer and changes its state to
    /// Established." Then we advertise everything and close each family with End-of-RIB
    /// (RFC 4724 §4).
    fn establish(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.restart_hold(now);
        self.stats.established_at = Some(now);
        self.stats.established_count = self.stats.established_count.saturating_add(1);
        self.set_state(State::Established, "KEEPALIVE received in OpenConfirm", out);
        let (Some(params), Some(peer_open)) = (self.params(), self.peer_open.clone()) else {
            return;
        };
        out.push(Action::Established { params, peer_open });
        let families = self.neg.as_ref().map(|n| n.families.clone()).unwrap_or_default();
        self.sync_routes(now, out, &families);
    }

    /// UpdateMsg (Event 27) in Established: "restarts its HoldTimer, if the negotiated
    /// HoldTime value is non-zero"; UpdateMsgErr (Event 28): "sends a NOTIFICATION message with
    /// an Update error, … and changes its state to Idle". RFC 7606 errors that keep the
    /// session are reported as `UpdateError`. Received prefixes are counted, not stored.
    fn update_received(&mut self, now: Instant, body: &[u8], out: &mut Vec<Action>) {
        let p = self.params().unwrap_or_default();
        // Decoded in place (no move of the view, no allocation).
        let mut u = Update::default();
        match u.decode_into(body, &p) {
            Ok(()) => {}
            Err(e) => {
                let why = format!("bad UPDATE: {}", e.reason);
                self.fail(now, Some(e.notification), why, out);
                return;
            }
        }
        self.restart_hold(now);
        let taw = u.treat_as_withdraw.is_some();
        if let Some(e) = &u.treat_as_withdraw {
            self.stats.update_errors = self.stats.update_errors.saturating_add(1);
            out.push(Action::UpdateError((**e).clone()));
        }
        if !u.discard_errors.is_empty() && !taw {
            self.stats.update_errors = self.stats.update_errors.saturating_add(1);
        }
        out.extend(u.discard_errors.iter().cloned().map(Action::UpdateError));
        // Withdrawn Routes are processed before NLRI (RFC 4271 §9.1).
        let mut delta = [(0u64, 0u64); 2]; // (announced, withdrawn) per family
        for x in u.withdrawn_all() {
            delta[usize::from(x.net.addr().is_ipv6())].1 += 1;
        }
        for x in u.announced() {
            let d = &mut delta[usize::from(x.net.addr().is_ipv6())];
            if taw {
                d.1 += 1;
            } else {
                d.0 += 1;
            }
        }
        for (i, (a, w)) in delta.iter().enumerate() {
            let v6 = i == 1;
            self.stats.prefixes_announced_rx.add(v6, *a);
            self.stats.prefixes_withdrawn_rx.add(v6, *w);
        }
        if self.cfg.max_prefixes.is_some() {
            // RFC 4271 §9.1: withdrawals first; an announcement of a prefix already held
            // replaces it (implicit withdraw), a withdrawal of one never announced changes
            // nothing.
            for x in u.effective_withdrawn() {
                self.held[usize::from(x.net.addr().is_ipv6())].remove(&x);
            }
            if !taw {
                for x in u.announced() {
                    self.held[usize::from(x.net.addr().is_ipv6())].insert(x);
                }
            }
        }
        self.check_max_prefixes(now, out);
    }

    /// RFC 4486 §4: Cease / Maximum Number of Prefixes Reached, Data = AFI (2), SAFI (1),
    /// upper bound (4).
    fn check_max_prefixes(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(max) = self.cfg.max_prefixes else { return };
        for (i, af) in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST].iter().enumerate() {
            let n = u64::try_from(self.held[i].len()).unwrap_or(u64::MAX);
            if n > max {
                let mut data = af.afi.to_be_bytes().to_vec();
                data.push(af.safi);
                data.extend_from_slice(&u32::try_from(max).unwrap_or(u32::MAX).to_be_bytes());
                let why = format!("peer sent {n} prefixes of AFI {} SAFI {}, limit {max}", af.afi, af.safi);
                self.fail(now, Some(Notification::new(code::CEASE, cease::MAX_PREFIXES_REACHED, data)), why, out);
                return;
            }
        }
    }

    /// ROUTE-REFRESH in Established (RFC 2918 §4, RFC 7313 §4): re-send our routes of the
    /// family (`send.rs`). A family we did not advertise is ignored (RFC 2918 §4); so are
    /// BoRR/EoRR from the peer (they frame the peer's own re-advertisement) and reserved
    /// subtypes (RFC 7313 §5).
    fn refresh_received(&mut self, now: Instant, body: &[u8], whole: &[u8], out: &mut Vec<Action>) {
        let rr = match RouteRefresh::decode(body, whole) {
            Ok(rr) => rr,
            Err(e) => {
                let why = format!("bad ROUTE-REFRESH: {}", e.reason);
                self.fail(now, Some(e.notification), why, out);
                return;
            }
        };
        let af = AfiSafi::new(rr.afi, rr.safi);
        let Some(neg) = self.neg.as_ref() else { return };
        if rr.subtype != SUBTYPE_NORMAL {
            return;
        }
        if !negotiate::OUR_FAMILIES.contains(&af) || !neg.has_family(af) {
            out.push(Action::Warning(format!(
                "ROUTE-REFRESH for AFI {} SAFI {} which was not negotiated: ignored",
                rr.afi, rr.safi
            )));
            return;
        }
        self.resend_family(now, af, out);
    }
}

/// Octets still missing from an incomplete message the framer accepted so far: the rest of
/// the header, then the rest of the length the header announces.
fn pending_need(buf: &[u8]) -> usize {
    match declared_len(buf) {
        Some(len) if buf.len() >= HEADER_LEN => len.saturating_sub(buf.len()),
        _ => HEADER_LEN.saturating_sub(buf.len()),
    }
}
