//! anycastd's own decoder, the way its session reads a stream (`session/receive.rs`):
//! `anycastd::wire::frame` cuts each message, then an UPDATE is decoded with
//! `Update::decode_into` into one view reused from message to message (no allocation, no
//! move); any other message goes through `decode_frame`. Default `SessionParams`: 4-octet
//! AS, no ADD-PATH, 4096-octet messages. One validating pass per UPDATE, then borrowed
//! iterators. An UPDATE that anycastd would treat-as-withdraw or whose attributes it would
//! discard counts as a disagreement with the corpus (which is all valid).

use std::net::IpAddr;

use anycastd::wire::attr::Origin;
use anycastd::wire::header::HEADER_LEN;
use anycastd::wire::nlri::Prefix;
use anycastd::wire::{MessageType, SessionParams, Update, decode_frame, frame};

use crate::Counts;

fn tally_prefix(c: &mut Counts, p: &Prefix, withdrawn: bool) {
    let len = p.net.prefix_len();
    match (p.net.addr(), withdrawn) {
        (IpAddr::V4(a), false) => c.v4_prefix(a.octets(), len),
        (IpAddr::V6(a), false) => c.v6_prefix(a.octets(), len),
        (IpAddr::V4(a), true) => c.withdrawn_v4(a.octets(), len),
        (IpAddr::V6(a), true) => c.withdrawn_v6(a.octets(), len),
    }
}

fn tally_update(c: &mut Counts, u: &Update<'_>) -> Result<(), String> {
    if let Some(e) = &u.treat_as_withdraw {
        return Err(format!("treat-as-withdraw: {e:?}"));
    }
    if !u.discard_errors.is_empty() || !u.discarded.is_empty() {
        return Err(format!("attributes discarded: {:?}", u.discard_errors));
    }
    u.withdrawn_all().for_each(|p| tally_prefix(c, &p, true));
    if let Some(o) = u.origin {
        c.origin(match o {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        });
    }
    if let Some(p) = &u.as_path {
        p.asns().for_each(|a| c.asn(a));
    }
    if let Some(nh) = u.next_hop {
        c.next_hop_v4(nh.octets());
    }
    if let Some(m) = &u.mp_reach {
        match m.next_hops().0 {
            Some(IpAddr::V6(a)) => c.next_hop_v6(a.octets()),
            other => return Err(format!("unexpected MP next hop {other:?}")),
        }
    }
    if let Some(m) = u.med {
        c.med(m);
    }
    u.communities().for_each(|x| c.community(x.0));
    u.large_communities()
        .for_each(|l| c.large_community(l.global, l.local1, l.local2));
    u.announced().for_each(|p| tally_prefix(c, &p, false));
    Ok(())
}

/// Full decode with anycastd's wire module.
pub fn decode_anycastd(bytes: &[u8]) -> Result<Counts, String> {
    let params = SessionParams::default();
    let mut c = Counts::default();
    let mut rest = bytes;
    let mut update = Update::default();
    // Bounded: each frame is at least 19 octets (the framer's minimum); errors return.
    while !rest.is_empty() {
        let at = bytes.len() - rest.len();
        let f = match frame(rest, params.max_message_len()) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(format!("anycastd: truncated message at offset {at}")),
            Err(e) => return Err(format!("anycastd: message at offset {at}: {e:?}")),
        };
        let (whole, tail) = rest.split_at(f.len);
        rest = tail;
        c.message();
        if f.msg_type == MessageType::Update {
            update
                .decode_into(&whole[HEADER_LEN..], &params)
                .map_err(|e| format!("anycastd: message at offset {at}: {e:?}"))?;
            tally_update(&mut c, &update)
                .map_err(|e| format!("anycastd: UPDATE at offset {at}: {e}"))?;
        } else {
            decode_frame(f, whole, &params)
                .map_err(|e| format!("anycastd: message at offset {at}: {e:?}"))?;
        }
    }
    Ok(c)
}
