#!/usr/bin/env python3
"""The H1 attacker of test_listener_bypass.py: an unsigned BGP client that connects *from* a
keyed neighbor's address to another of the speaker's listening addresses, and reports what
it got. Run it inside the attacker namespace (it must own --src, e.g. on lo).

usage: h1attacker.py --src IP --dst IP [--port 179] [--attempts N] [--duration S]
                     [--interval S] [--asn AS] [--bgp-id ID] [--connect-timeout S]
                     [--read-timeout S]

Each attempt: a plain TCP socket (no TCP_MD5SIG) bound to --src connects to --dst:port; it
reads what the speaker sends; on a BGP OPEN (marker 16 x 0xff, type 1) it answers with its
own OPEN (AS --asn, identifier --bgp-id, hold 9, MP ipv4+ipv6 unicast, route refresh,
4-octet AS) and a KEEPALIVE, i.e. it tries to reach Established; it records KEEPALIVEs,
UPDATEs (the prefixes they announce) and NOTIFICATIONs; it ends the attempt when the speaker
closes, sends a NOTIFICATION, has announced something (then 0.3 s more), or --read-timeout
passes, and then closes (with a Cease 6/2 if it had sent an OPEN). One JSON object per
attempt on stdout. Bounded: at most --attempts attempts and --duration seconds (the attempt
running at the deadline finishes: at most connect + read timeout more). Standard library only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def msg(kind: int, body: bytes = b"") -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn: int, bgp_id: str, hold: int = 9) -> bytes:
    caps = (bytes([1, 4]) + struct.pack("!HBB", 1, 0, 1),   # MP ipv4 unicast
            bytes([1, 4]) + struct.pack("!HBB", 2, 0, 1),   # MP ipv6 unicast
            bytes([2, 0]),                                  # route refresh
            bytes([65, 4]) + struct.pack("!I", asn))        # 4-octet AS
    params = b"".join(bytes([2, len(c)]) + c for c in caps)  # one capability per parameter
    my_as = asn if asn < 65536 else 23456
    return msg(1, struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton(bgp_id), len(params)) + params)


def prefixes(data: bytes, v6: bool) -> list[str]:
    out, i = [], 0
    width = 16 if v6 else 4
    while i < len(data):
        plen = data[i]
        n = (plen + 7) // 8
        raw = data[i + 1:i + 1 + n].ljust(width, b"\0")
        addr = ipaddress.IPv6Address(raw) if v6 else ipaddress.IPv4Address(raw)
        out.append(f"{addr}/{plen}")
        i += 1 + n
    return out


def update_nlri(body: bytes) -> list[str]:
    """Prefixes an UPDATE announces: IPv4 NLRI and MP_REACH_NLRI (ipv4/ipv6 unicast)."""
    try:
        wlen = struct.unpack("!H", body[0:2])[0]
        alen = struct.unpack("!H", body[2 + wlen:4 + wlen])[0]
        attrs = body[4 + wlen:4 + wlen + alen]
        out = prefixes(body[4 + wlen + alen:], False)
        i = 0
        while i < len(attrs):
            flags, code = attrs[i], attrs[i + 1]
            if flags & 0x10:
                ln, hdr = struct.unpack("!H", attrs[i + 2:i + 4])[0], 4
            else:
                ln, hdr = attrs[i + 2], 3
            val = attrs[i + hdr:i + hdr + ln]
            if code == 14 and len(val) >= 5:
                afi, nhl = struct.unpack("!H", val[0:2])[0], val[3]
                out += prefixes(val[5 + nhl:], afi == 2)
            i += hdr + ln
        return out
    except (IndexError, struct.error, ValueError):
        return ["<undecodable>"]


def attempt(n: int, a: argparse.Namespace) -> dict:
    r: dict = {"n": n, "t": round(time.time(), 6), "handshake": False, "connect_error": None,
               "bytes": 0, "messages": [], "open": None, "sent_open": False, "keepalives": 0,
               "announced": [], "notification": None, "end": None, "first_byte_ms": None,
               "end_ms": None}
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET6 if ":" in a.dst else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(a.connect_timeout)
        s.bind((a.src, 0))
        try:
            s.connect((a.dst, a.port))
        except OSError as e:  # ConnectionRefusedError (RST), timeout (no SYN-ACK), ...
            r["connect_error"] = type(e).__name__ if isinstance(e, (TimeoutError, socket.timeout)) \
                else f"{type(e).__name__}: {e.strerror or e}"
            return r
        r["handshake"] = True
        r["local"] = "%s:%d" % s.getsockname()[:2]
        buf = b""
        deadline = t0 + a.connect_timeout + a.read_timeout
        announced_at = None
        while True:
            now = time.monotonic()
            if announced_at is not None:
                deadline = min(deadline, announced_at + 0.3)
            if now >= deadline:
                r["end"] = r["end"] or "still open at the read timeout"
                break
            s.settimeout(deadline - now)
            try:
                data = s.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            except ConnectionResetError:
                r["end"] = "reset by the speaker"
                break
            if not data:
                r["end"] = "closed by the speaker (FIN)"
                break
            if r["first_byte_ms"] is None:
                r["first_byte_ms"] = round((time.monotonic() - t0) * 1000, 1)
            r["bytes"] += len(data)
            buf += data
            while len(buf) >= 19:
                if buf[:16] != MARKER:
                    r["messages"].append("<no BGP marker>")
                    buf = b""
                    break
                ln, kind = struct.unpack("!HB", buf[16:19])
                if ln < 19 or len(buf) < ln:
                    break
                body, buf = buf[19:ln], buf[ln:]
                r["messages"].append(TYPES.get(kind, str(kind)))
                if kind == 1 and r["open"] is None and len(body) >= 9:
                    ver, my_as, hold, bid = struct.unpack("!BHH4s", body[:9])
                    r["open"] = {"version": ver, "my_as": my_as, "hold": hold, "bgp_id": socket.inet_ntoa(bid)}
                    s.sendall(open_msg(a.asn, a.bgp_id) + msg(4))
                    r["sent_open"] = True
                elif kind == 4:
                    r["keepalives"] += 1
                elif kind == 2:
                    got = update_nlri(body)
                    r["announced"] += got
                    if got and announced_at is None:
                        announced_at = time.monotonic()
                elif kind == 3 and len(body) >= 2:
                    r["notification"] = f"{body[0]}/{body[1]}"
            if r["notification"]:
                r["end"] = "NOTIFICATION from the speaker"
                break
        if r["sent_open"] and r["end"] not in ("reset by the speaker", "closed by the speaker (FIN)"):
            try:
                s.sendall(msg(3, bytes([6, 2])))  # Cease / Administrative Shutdown
            except OSError:
                pass
    finally:
        r["end_ms"] = round((time.monotonic() - t0) * 1000, 1)
        s.close()
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, default=179)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--interval", type=float, default=0.3)
    p.add_argument("--asn", type=int, default=65000)
    p.add_argument("--bgp-id", default="192.0.2.1")
    p.add_argument("--connect-timeout", type=float, default=2.0)
    p.add_argument("--read-timeout", type=float, default=1.5)
    a = p.parse_args()
    a.attempts = max(1, min(a.attempts, 100))
    end = time.monotonic() + min(a.duration, 60.0)
    for n in range(1, a.attempts + 1):
        print(json.dumps(attempt(n, a)), flush=True)
        if time.monotonic() + a.interval >= end:
            break
        time.sleep(a.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
