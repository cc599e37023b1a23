//! The send path of a [`Session`] once Established: our routes (the difference between what
//! the peer has from us and what we want, withdrawals first, then End-of-RIB after the
//! initial advertisement, RFC 4724 §4) and their re-advertisement on ROUTE-REFRESH (RFC 2918
//! §4; framed by BoRR/EoRR with enhanced route refresh, RFC 7313 §4). Counts what it sends and
//! restarts the KeepaliveTimer (RFC 4271 §10). No I/O, no clock.

use super::fsm::Session;
use super::routes::{self, Encoded, Routes};
use super::Action;
use crate::wire::route_refresh::{SUBTYPE_BORR, SUBTYPE_EORR};
use crate::wire::{AfiSafi, MessageType, RouteRefresh};
use bytes::BytesMut;
use std::time::Instant;

impl Session {
    /// Sends the difference between what the peer has and what we want, then End-of-RIB for
    /// `eor` families.
    pub(super) fn sync_routes(&mut self, now: Instant, out: &mut Vec<Action>, eor: &[AfiSafi]) {
        let Some(neg) = self.neg.as_ref() else { return };
        let (target, warnings) = routes::sendable(&self.desired, neg);
        let mut enc = Encoded::default();
        routes::encode_diff(&self.advertised, &target, &neg.params, &mut enc);
        out.extend(warnings.into_iter().chain(enc.warnings.drain(..)).map(Action::Warning));
        self.advertised = target;
        self.flush(now, enc, out);
        if !eor.is_empty() {
            let mut enc = Encoded::default();
            routes::encode_end_of_rib(eor, &mut enc);
            self.flush(now, enc, out);
        }
    }

    /// Sends what one encoding run produced, counted per family.
    fn flush(&mut self, now: Instant, enc: Encoded, out: &mut Vec<Action>) {
        if enc.bytes.is_empty() {
            return;
        }
        let s = &mut self.stats;
        s.prefixes_announced_tx.add(false, enc.announced.ipv4);
        s.prefixes_announced_tx.add(true, enc.announced.ipv6);
        s.prefixes_withdrawn_tx.add(false, enc.withdrawn.ipv4);
        s.prefixes_withdrawn_tx.add(true, enc.withdrawn.ipv6);
        self.send(enc.bytes.freeze(), MessageType::Update, enc.messages, out);
        self.restart_keepalive(now);
    }

    /// Re-sends our routes of `af` after the peer's ROUTE-REFRESH: BoRR, routes, EoRR with
    /// enhanced route refresh; routes, End-of-RIB without.
    pub(super) fn resend_family(&mut self, now: Instant, af: AfiSafi, out: &mut Vec<Action>) {
        let Some(neg) = self.neg.as_ref() else { return };
        let enhanced = neg.enhanced_route_refresh;
        let params = neg.params;
        let mut enc = Encoded::default();
        let mut rr_out = BytesMut::new();
        if enhanced {
            RouteRefresh { afi: af.afi, subtype: SUBTYPE_BORR, safi: af.safi, orf: Vec::new() }.encode(&mut rr_out);
            self.send(rr_out.split().freeze(), MessageType::RouteRefresh, 1, out);
        }
        routes::encode_diff(&Routes::new(), &self.advertised.family(af), &params, &mut enc);
        if !enhanced {
            routes::encode_end_of_rib(&[af], &mut enc);
        }
        self.flush(now, enc, out);
        if enhanced {
            RouteRefresh { afi: af.afi, subtype: SUBTYPE_EORR, safi: af.safi, orf: Vec::new() }.encode(&mut rr_out);
            self.send(rr_out.split().freeze(), MessageType::RouteRefresh, 1, out);
        }
    }
}
