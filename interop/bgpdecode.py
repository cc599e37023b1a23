"""Independent throw-away BGP-4 message decoder for the lab fixtures.

Owns: turning one complete BGP message (bytes) into the structured `expected`
summary used by the fixture JSON files (same shape as shared/fixtures/messages).
It is deliberately separate from anycastd's Rust decoder (it exists to check
that decoder, and is itself checked against tshark by fixtures-extract.py).
It must not: read files, run tools, or guess: anything it cannot decode is
reported under an "error" key instead of being silently skipped.
Standard library only (runs under Debian's /usr/bin/python3).
"""

import ipaddress

MSG_TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}

CAP_NAMES = {
    1: "multiprotocol", 2: "route-refresh", 5: "extended-next-hop-encoding", 6: "extended-message",
    9: "bgp-role", 64: "graceful-restart", 65: "four-octet-as", 69: "add-path",
    70: "enhanced-route-refresh", 71: "long-lived-graceful-restart", 73: "fqdn",
    75: "software-version", 128: "route-refresh-cisco-prestandard",
}

ATTR_NAMES = {
    1: "ORIGIN", 2: "AS_PATH", 3: "NEXT_HOP", 4: "MULTI_EXIT_DISC", 5: "LOCAL_PREF",
    6: "ATOMIC_AGGREGATE", 7: "AGGREGATOR", 8: "COMMUNITIES", 9: "ORIGINATOR_ID",
    10: "CLUSTER_LIST", 14: "MP_REACH_NLRI", 15: "MP_UNREACH_NLRI",
    16: "EXTENDED_COMMUNITIES", 17: "AS4_PATH", 18: "AS4_AGGREGATOR", 32: "LARGE_COMMUNITY",
}

WELL_KNOWN_COMMUNITIES = {
    0xFFFF0000: "GRACEFUL_SHUTDOWN", 0xFFFF029A: "BLACKHOLE", 0xFFFFFF01: "NO_EXPORT",
    0xFFFFFF02: "NO_ADVERTISE", 0xFFFFFF03: "NO_EXPORT_SUBCONFED", 0xFFFFFF04: "NOPEER",
}

ERROR_NAMES = {
    1: "Message Header Error", 2: "OPEN Message Error", 3: "UPDATE Message Error",
    4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease",
    7: "ROUTE-REFRESH Message Error",
}
# RFC 4486, RFC 8538 (9 Hard Reset), RFC 9384 (10 BFD Down)
CEASE_SUBCODES = {
    1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown",
    3: "Peer De-configured", 4: "Administrative Reset", 5: "Connection Rejected",
    6: "Other Configuration Change", 7: "Connection Collision Resolution",
    8: "Out of Resources", 9: "Hard Reset", 10: "BFD Down",
}
ADDPATH_SR = {1: "receive", 2: "send", 3: "both"}
RR_SUBTYPES = {0: "normal route-refresh", 1: "BoRR", 2: "EoRR"}
SEGMENT_TYPES = {1: "AS_SET", 2: "AS_SEQUENCE", 3: "AS_CONFED_SEQUENCE", 4: "AS_CONFED_SET"}
ORIGINS = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}
EXT_SUBTYPES = {2: "route-target", 3: "route-origin"}


class DecodeError(Exception):
    pass


def _take(buf, off, n, what):
    if n < 0 or off + n > len(buf):
        raise DecodeError(f"{what}: need {n} bytes at offset {off}, only {len(buf) - off} left")
    return buf[off:off + n], off + n


def _u(b):
    return int.from_bytes(b, "big")


def decode_prefixes(buf, afi, what):
    """NLRI list (RFC 4271 §4.3 / RFC 4760 §5): length octet + minimal prefix octets."""
    out, off = [], 0
    width = 4 if afi == 1 else 16
    while off < len(buf):
        plen = buf[off]
        off += 1
        if plen > width * 8:
            raise DecodeError(f"{what}: prefix length {plen} > {width * 8}")
        raw, off = _take(buf, off, (plen + 7) // 8, what)
        addr = raw + bytes(width - len(raw))
        ip = ipaddress.IPv4Address(addr) if afi == 1 else ipaddress.IPv6Address(addr)
        out.append(f"{ip}/{plen}")
    return out


def flags_str(flags):
    s = ""
    for bit, ch in ((0x80, "O"), (0x40, "T"), (0x20, "P"), (0x10, "E")):
        if flags & bit:
            s += ch
    return s


def decode_capability(code, val):
    cap = {"code": code, "name": CAP_NAMES.get(code, f"unknown-{code}")}
    if code == 1 and len(val) == 4:
        cap.update(afi=_u(val[0:2]), safi=val[3])
    elif code == 64 and len(val) >= 2:
        word = _u(val[0:2])
        fl = word >> 12
        names = [n for bit, n in ((8, "R"), (4, "N")) if fl & bit]
        cap.update(flags="".join(names) if names else "none", restart_time=word & 0x0FFF)
        cap["afs"] = [
            {"afi": _u(val[i:i + 2]), "safi": val[i + 2], "f_bit": bool(val[i + 3] & 0x80)}
            for i in range(2, len(val) - 3, 4)
        ]
    elif code == 65 and len(val) == 4:
        cap["asn"] = _u(val)
    elif code == 71:
        cap["afs"] = [
            {"afi": _u(val[i:i + 2]), "safi": val[i + 2], "flags": val[i + 3],
             "stale_time": _u(val[i + 4:i + 7])}
            for i in range(0, len(val) - 6, 7)
        ]
    elif code == 69:
        cap["afs"] = [
            {"afi": _u(val[i:i + 2]), "safi": val[i + 2],
             "send_receive": ADDPATH_SR.get(val[i + 3], val[i + 3])}
            for i in range(0, len(val) - 3, 4)
        ]
    elif code == 5:
        cap["tuples"] = [
            {"nlri_afi": _u(val[i:i + 2]), "nlri_safi": _u(val[i + 2:i + 4]),
             "nexthop_afi": _u(val[i + 4:i + 6])}
            for i in range(0, len(val) - 5, 6)
        ]
    elif code == 73 and len(val) >= 1:
        hl = val[0]
        host = val[1:1 + hl]
        rest = val[1 + hl:]
        dom = rest[1:1 + rest[0]] if rest else b""
        cap.update(hostname=host.decode("utf-8", "replace"), domainname=dom.decode("utf-8", "replace"))
    elif code == 75 and len(val) >= 1:
        cap["software"] = val[1:1 + val[0]].decode("utf-8", "replace")
    elif code not in (2, 6, 70, 128):
        cap["value_hex"] = val.hex()
    cap["len"] = len(val)
    return cap


def decode_open(body):
    out = {}
    out["version"] = body[0]
    out["my_as"] = _u(body[1:3])
    out["hold_time"] = _u(body[3:5])
    out["bgp_id"] = str(ipaddress.IPv4Address(body[5:9]))
    opt_len = body[9]
    out["opt_params_len"] = opt_len
    params, off, caps, count = body[10:10 + opt_len], 0, [], 0
    if len(params) != opt_len:
        raise DecodeError(f"OPEN: optional parameters length {opt_len} but {len(params)} bytes")
    while off < len(params):
        (ptype, plen), off = tuple(params[off:off + 2]), off + 2
        pval, off = _take(params, off, plen, "OPEN optional parameter")
        count += 1
        if ptype != 2:
            caps.append({"param_type": ptype, "value_hex": pval.hex()})
            continue
        coff = 0
        while coff < len(pval):
            ccode, clen = pval[coff], pval[coff + 1]
            cval, coff = _take(pval, coff + 2, clen, f"capability {ccode}")
            caps.append(decode_capability(ccode, cval))
    out["opt_params_count"] = count
    out["capabilities"] = caps
    return out


def decode_attr(code, flags, val, four_octet_as):
    a = {"type_code": code, "name": ATTR_NAMES.get(code, f"unknown-{code}"),
         "flags": flags_str(flags), "len": len(val)}
    if code == 1:
        a["value"] = ORIGINS.get(val[0], val[0]) if len(val) == 1 else val.hex()
    elif code in (2, 17):
        width = 4 if (four_octet_as or code == 17) else 2
        segs, off = [], 0
        while off < len(val):
            stype, scount = val[off], val[off + 1]
            raw, off = _take(val, off + 2, scount * width, "AS_PATH segment")
            segs.append({"type": SEGMENT_TYPES.get(stype, stype),
                         "asns": [_u(raw[i:i + width]) for i in range(0, len(raw), width)]})
        a["segments"] = segs
    elif code == 3:
        a["value"] = str(ipaddress.IPv4Address(val))
    elif code in (4, 5):
        a["value"] = _u(val)
    elif code == 8:
        comms = []
        for i in range(0, len(val), 4):
            c = _u(val[i:i + 4])
            comms.append(WELL_KNOWN_COMMUNITIES.get(c, f"{c >> 16}:{c & 0xFFFF}"))
        a["communities"] = comms
    elif code == 16:
        ecs = []
        for i in range(0, len(val), 8):
            e = val[i:i + 8]
            ec = {"raw": e.hex(), "type": e[0], "subtype": e[1]}
            t = e[0] & 0x3F
            if t == 0:
                ec.update(as2=_u(e[2:4]), local=_u(e[4:8]))
            elif t == 1:
                ec.update(ipv4=str(ipaddress.IPv4Address(e[2:6])), local=_u(e[6:8]))
            elif t == 2:
                ec.update(as4=_u(e[2:6]), local=_u(e[6:8]))
            if t in (0, 1, 2) and e[1] in EXT_SUBTYPES:
                ec["name"] = EXT_SUBTYPES[e[1]]
            ecs.append(ec)
        a["value"] = ecs
    elif code == 32:
        a["large_communities"] = [
            f"{_u(val[i:i + 4])}:{_u(val[i + 4:i + 8])}:{_u(val[i + 8:i + 12])}"
            for i in range(0, len(val), 12)
        ]
    elif code == 14:
        afi, safi, nhl = _u(val[0:2]), val[2], val[3]
        nh, off = _take(val, 4, nhl, "MP_REACH next hop")
        snpa, off = val[off], off + 1
        if nhl in (4, 16):
            hops = [nh]
        elif nhl == 32:
            hops = [nh[:16], nh[16:]]
        else:
            raise DecodeError(f"MP_REACH next hop length {nhl}")
        a["value"] = {
            "afi": afi, "safi": safi, "nexthop_len": nhl,
            "nexthops": [str(ipaddress.ip_address(h)) for h in hops],
            "snpa_count": snpa,
            "nlri": decode_prefixes(val[off:], afi, "MP_REACH NLRI"),
        }
    elif code == 15:
        afi, safi = _u(val[0:2]), val[2]
        a["value"] = {"afi": afi, "safi": safi,
                      "withdrawn": decode_prefixes(val[3:], afi, "MP_UNREACH withdrawn")}
    else:
        a["value_hex"] = val.hex()
    return a


def decode_update(body, four_octet_as):
    out = {}
    wlen = _u(body[0:2])
    wraw, off = _take(body, 2, wlen, "withdrawn routes")
    out["withdrawn_len"] = wlen
    out["withdrawn"] = decode_prefixes(wraw, 1, "withdrawn routes")
    alen = _u(body[off:off + 2])
    araw, off = _take(body, off + 2, alen, "path attributes")
    out["path_attr_len"] = alen
    attrs, aoff = [], 0
    while aoff < len(araw):
        flags, code = araw[aoff], araw[aoff + 1]
        if flags & 0x10:
            vlen, aoff = _u(araw[aoff + 2:aoff + 4]), aoff + 4
        else:
            vlen, aoff = araw[aoff + 2], aoff + 3
        val, aoff = _take(araw, aoff, vlen, f"attribute {code}")
        attrs.append(decode_attr(code, flags, val, four_octet_as))
    out["path_attributes"] = attrs
    out["nlri"] = decode_prefixes(body[off:], 1, "NLRI")
    # RFC 4724 §2: End-of-RIB markers.
    if not out["withdrawn"] and not attrs and not out["nlri"]:
        out["end_of_rib"] = {"afi": 1, "safi": 1}
    elif (len(attrs) == 1 and attrs[0]["type_code"] == 15 and not out["nlri"]
          and not out["withdrawn"] and not attrs[0]["value"]["withdrawn"]):
        out["end_of_rib"] = {"afi": attrs[0]["value"]["afi"], "safi": attrs[0]["value"]["safi"]}
    return out


def decode_notification(body):
    code, sub, data = body[0], body[1], body[2:]
    out = {"error_code": code, "error_name": ERROR_NAMES.get(code, f"unknown-{code}"),
           "error_subcode": sub}
    if code == 6:
        out["error_subcode_name"] = CEASE_SUBCODES.get(sub, f"unknown-{sub}")
    out["data_hex"] = data.hex()
    # RFC 9003: Shutdown Communication for Cease/2 and Cease/4.
    if code == 6 and sub in (2, 4) and data:
        n = data[0]
        if 1 + n <= len(data):
            out["shutdown_communication"] = {
                "length": n, "text": data[1:1 + n].decode("utf-8", errors="replace")}
    return out


def decode_message(msg, four_octet_as=True):
    """Decode one complete BGP message; returns the `expected` dict."""
    if len(msg) < 19:
        return {"error": f"message shorter than the 19-byte header ({len(msg)} bytes)"}
    length, mtype = _u(msg[16:18]), msg[18]
    out = {"marker_ok": msg[:16] == b"\xff" * 16, "length": length,
           "type": MSG_TYPES.get(mtype, f"unknown-{mtype}"), "type_code": mtype}
    if length != len(msg):
        out["error"] = f"header length {length} but {len(msg)} bytes"
        return out
    body = msg[19:]
    try:
        if mtype == 1:
            out.update(decode_open(body))
        elif mtype == 2:
            out.update(decode_update(body, four_octet_as))
        elif mtype == 3:
            out.update(decode_notification(body))
        elif mtype == 5:
            out.update(afi=_u(body[0:2]), subtype=body[2], safi=body[3],
                       subtype_name=RR_SUBTYPES.get(body[2], f"unknown-{body[2]}"))
    except (DecodeError, IndexError, ValueError) as e:
        out["error"] = str(e)
    return out
