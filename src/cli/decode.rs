//! `anycastd decode`: BGP messages in, one JSON object per message out. Reads a binary file of
//! concatenated messages or hex text (one message per line), and keeps going after a bad
//! message whenever the framing allows, so one capture shows every problem at once.

use crate::wire::notification::{code, header as header_err};
use crate::wire::{self, attr, capability::Capability, header, DecodeError, Message, SessionParams, Update};
use serde_json::{json, Map, Value};

/// Everything `decode` printed, and whether any message failed.
pub struct Decoded {
    pub lines: Vec<Value>,
    pub failed: usize,
}

/// Decodes a binary stream of concatenated messages.
pub fn decode_stream(mut data: &[u8], p: &SessionParams) -> Decoded {
    let mut out = Decoded { lines: Vec::new(), failed: 0 };
    let mut offset = 0usize;
    while !data.is_empty() {
        let step = match wire::frame(data, p.max_message_len()) {
            Ok(Some(f)) => {
                // The framer only returns a frame the buffer holds.
                let whole = data.get(..f.len).unwrap_or(data);
                push(&mut out, wire::decode_frame(f, whole, p), offset);
                f.len
            }
            Ok(None) => {
                let e = DecodeError::reset(
                    code::MESSAGE_HEADER,
                    header_err::BAD_MESSAGE_LENGTH,
                    Vec::new(),
                    format!("stream ends inside a message: {} octets left", data.len()),
                );
                push(&mut out, Err(e), offset);
                break;
            }
            Err(e) => {
                // Resynchronise on the length field when it is plausible, else stop.
                let len = header::declared_len(data).unwrap_or(0);
                push(&mut out, Err(e), offset);
                if (header::HEADER_LEN..=data.len()).contains(&len) {
                    len
                } else {
                    break;
                }
            }
        };
        data = data.get(step..).unwrap_or_default();
        offset += step;
    }
    out
}

/// Decodes hex text, one message per line (blank lines and `#` comments skipped).
pub fn decode_hex_lines(text: &str, p: &SessionParams) -> Decoded {
    let mut out = Decoded { lines: Vec::new(), failed: 0 };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(bytes) = wire::unhex(line) else {
            out.failed += 1;
            out.lines.push(json!({"type": "ERROR", "line": n + 1, "reason": "not hex: odd number of digits or a non-hex character"}));
            continue;
        };
        let mut one = decode_stream(&bytes, p);
        for v in &mut one.lines {
            if let Some(o) = v.as_object_mut() {
                o.insert("line".into(), json!(n + 1));
            }
        }
        out.failed += one.failed;
        out.lines.extend(one.lines);
    }
    out
}

fn push(out: &mut Decoded, r: Result<Message<'_>, DecodeError>, offset: usize) {
    let mut v = match r {
        Ok(m) => {
            let taw = matches!(&m, Message::Update(u) if u.treat_as_withdraw.is_some());
            if taw {
                out.failed += 1;
            }
            message_json(&m)
        }
        Err(e) => {
            out.failed += 1;
            error_json(&e)
        }
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("offset".into(), json!(offset));
    }
    out.lines.push(v);
}

/// The `ERROR` object: the NOTIFICATION the message would trigger, and why.
pub fn error_json(e: &DecodeError) -> Value {
    json!({
        "type": "ERROR",
        "code": e.code(),
        "subcode": e.subcode(),
        "data": wire::hex(&e.notification.data),
        "error": e.notification.to_string(),
        "action": e.action.as_str(),
        "reason": e.reason,
    })
}

pub fn message_json(m: &Message<'_>) -> Value {
    match m {
        Message::Open(o) => json!({
            "type": "OPEN",
            "version": o.version,
            "my_as": o.my_as,
            "asn": o.asn(),
            "hold_time": o.hold_time,
            "bgp_id": o.bgp_id.to_string(),
            "extended_opt_params": o.extended_params,
            "capabilities": o.capabilities.iter().map(capability_json).collect::<Vec<_>>(),
        }),
        Message::Update(u) => update_json(u),
        Message::Notification(n) => {
            let mut v = json!({
                "type": "NOTIFICATION",
                "code": n.code,
                "subcode": n.subcode,
                "data": wire::hex(&n.data),
                "error": n.to_string(),
            });
            match n.shutdown_communication() {
                Some(Ok(sc)) => {
                    v["shutdown_communication"] = json!(sc.text);
                    if !sc.trailing.is_empty() {
                        v["trailing_data"] = json!(wire::hex(&sc.trailing));
                    }
                }
                Some(Err(len)) => v["shutdown_communication_invalid"] = json!(format!("length {len} exceeds the data")),
                None => {}
            }
            v
        }
        Message::Keepalive => json!({"type": "KEEPALIVE"}),
        Message::RouteRefresh(r) => json!({
            "type": "ROUTE_REFRESH",
            "afi": r.afi,
            "safi": r.safi,
            "subtype": r.subtype,
            "subtype_name": r.subtype_name(),
            "orf_len": r.orf.len(),
        }),
    }
}

fn capability_json(c: &Capability) -> Value {
    let mut v = Map::new();
    v.insert("code".into(), json!(c.code()));
    v.insert("name".into(), json!(c.kind().name()));
    match c {
        Capability::Multiprotocol(a) => {
            v.insert("afi".into(), json!(a.afi));
            v.insert("safi".into(), json!(a.safi));
        }
        Capability::FourOctetAs(a) => {
            v.insert("asn".into(), json!(a));
        }
        Capability::GracefulRestart(g) => {
            v.insert("restart_time".into(), json!(g.restart_time));
            v.insert("restarting".into(), json!(g.restarting));
            v.insert("notification".into(), json!(g.notification));
            let afs: Vec<Value> =
                g.families.iter().map(|(a, f)| json!({"afi": a.afi, "safi": a.safi, "f_bit": f})).collect();
            v.insert("afs".into(), json!(afs));
        }
        Capability::AddPath(t) => {
            let afs: Vec<Value> =
                t.iter().map(|(a, m)| json!({"afi": a.afi, "safi": a.safi, "send_receive": m.name()})).collect();
            v.insert("afs".into(), json!(afs));
        }
        Capability::ExtendedNextHop(t) => {
            let tuples: Vec<Value> =
                t.iter().map(|(a, s, n)| json!({"nlri_afi": a, "nlri_safi": s, "nexthop_afi": n})).collect();
            v.insert("tuples".into(), json!(tuples));
        }
        Capability::Fqdn { hostname, domain } => {
            v.insert("hostname".into(), json!(hostname));
            v.insert("domainname".into(), json!(domain));
        }
        Capability::Unknown { value, .. } => {
            v.insert("value".into(), json!(wire::hex(value)));
        }
        _ => {}
    }
    v.insert("len".into(), json!(c.value_len()));
    Value::Object(v)
}

fn flags_str(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (attr::flag::OPTIONAL, 'O'),
        (attr::flag::TRANSITIVE, 'T'),
        (attr::flag::PARTIAL, 'P'),
        (attr::flag::EXTENDED_LENGTH, 'E'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn update_json(u: &Update<'_>) -> Value {
    let strs = |it: &mut dyn Iterator<Item = wire::nlri::Prefix>| -> Vec<Value> {
        it.map(|p| match p.path_id {
            Some(id) => json!(format!("{} path-id {id}", p.net)),
            None => json!(p.net.to_string()),
        })
        .collect()
    };
    let segments = u.effective_as_path();
    let as_path: Vec<u32> = segments.iter().flat_map(|s| s.asns.iter().copied()).collect();
    let eor = u.end_of_rib();
    let mut v = json!({
        "type": if u.treat_as_withdraw.is_some() { "ERROR" } else { "UPDATE" },
        "announced": strs(&mut u.announced()),
        "withdrawn": strs(&mut u.withdrawn_all()),
        "origin": u.origin.map(|o| o.name()),
        "as_path": as_path,
        "as_path_segments": segments.iter().map(|s| json!({"type": s.kind.name(), "asns": s.asns})).collect::<Vec<_>>(),
        "next_hop": u.next_hop_addr().map(|a| a.to_string()),
        "med": u.med,
        "local_pref": u.local_pref,
        "communities": u.communities().map(|c| c.to_string()).collect::<Vec<_>>(),
        "large_communities": u.large_communities().map(|c| c.to_string()).collect::<Vec<_>>(),
        "ext_communities": u.ext_communities().map(|c| wire::hex(&c)).collect::<Vec<_>>(),
        "end_of_rib": eor.is_some(),
        "path_attributes": u.raw_attrs().map(|a| json!({
            "type_code": a.type_code,
            "name": attr::AttrType::from_code(a.type_code).name(),
            "flags": flags_str(a.flags),
            "len": a.value.len(),
        })).collect::<Vec<_>>(),
    });
    if let Some(af) = eor {
        v["end_of_rib_family"] = json!({"afi": af.afi, "safi": af.safi});
    }
    if let Some(m) = &u.mp_reach {
        let (g, ll) = m.next_hops();
        let next_hops: Vec<String> = [g, ll].iter().flatten().map(|a| a.to_string()).collect();
        v["mp_reach"] = json!({
            "afi": m.afi, "safi": m.safi,
            "next_hops": next_hops,
            "nlri_raw_len": if m.family.is_none() { Some(m.nlri.len()) } else { None },
        });
    }
    if let Some(m) = &u.mp_unreach {
        v["mp_unreach"] = json!({"afi": m.afi, "safi": m.safi});
    }
    if let Some(e) = &u.treat_as_withdraw {
        v["update"] = json!(true);
        v["code"] = json!(e.code());
        v["subcode"] = json!(e.subcode());
        v["data"] = json!(wire::hex(&e.notification.data));
        v["action"] = json!(e.action.as_str());
        v["reason"] = json!(e.reason);
    }
    if !u.discard_errors.is_empty() || !u.discarded.is_empty() {
        v["discarded_attributes"] = json!(u.discard_errors.iter().map(|e| e.reason.clone()).collect::<Vec<_>>());
    }
    v
}
