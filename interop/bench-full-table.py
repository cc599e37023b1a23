#!/usr/bin/python3
"""bench-full-table.py: helpers of interop/bench-full-table.sh (stdlib only, /usr/bin/python3).

  gen N4 N6 GROUP                BIRD `protocol static` blocks feed4/feed6 on stdout: N4 IPv4
                                 and N6 IPv6 prefixes, deterministic; every GROUP consecutive
                                 prefixes share one AS path (65000 is prepended by the feeder
                                 on export), so UPDATEs carry about GROUP prefixes each. The
                                 paths are "65000 6451x..64911 42000000xx": never the
                                 receiver's 65124 (its loop detection would drop them).
                                 IPv4: 70 % /24, 10 % /23, 10 % /22, 5 % /21, 5 % /20, each
                                 length from its own block (no duplicates); IPv6: /48 (90 %)
                                 and /32 (10 %). The values are data inside BGP only: no packet
                                 is ever sent to them and nothing installs them in a FIB.
  gen-frr N4 N6                  the same prefixes as FRR bgpd `address-family … network …`
                                 blocks on stdout (bgpd originates them: no AS path of their own).
  gen-mrt N4 N6 GROUP OUT NH4 NH6
                                 the same feed (prefixes and AS paths) as an MRT TABLE_DUMP_V2
                                 file OUT for `gobgp mrt inject global`, next hops NH4 / NH6
                                 (and MRT_PAD records of the first prefixes again at the end).
  sample OUT INTERVAL_S MAX_S PID...
                                 every INTERVAL_S: "EPOCH RSS_KB HWM_KB" (summed over the PIDs
                                 still alive) appended to OUT, until SIGTERM/SIGINT, MAX_S, or
                                 all PIDs gone.
  exa-count STATUS               ExaBGP API process (encoder json): counts announced/withdrawn
                                 prefixes per family and End-of-RIBs; rewrites STATUS at most
                                 every 0.1 s (and at each EoR) as
                                 "V4 V6 EOR4_EPOCH EOR6_EPOCH UP_EPOCH UPDATES".
  pcap-eor PCAP SRC DST          from a tcpdump capture: per TCP connection SRC:179 <-> DST or
                                 SRC -> DST:179, the epoch of the first KEEPALIVE SRC sent, of
                                 SRC's IPv4 and IPv6 End-of-RIB, SRC's UPDATE count and the
                                 gaps (frames the capture dropped; parsing resynchronises on
                                 the next BGP marker): "KA EOR4 EOR6 UPDATES GAPS" per
                                 connection, one line each (0 = not seen).
  report RESULTS_TSV             the markdown table of the receivers.
"""

import ipaddress
import itertools
import json
import os
import signal
import struct
import sys
import time

MARKER = b"\xff" * 16
V4_PLAN = [(24, 0.70, 0x01000000), (23, 0.10, 0x14000000), (22, 0.10, 0x1E000000),
           (21, 0.05, 0x28000000), (20, 0.05, 0x32000000)]


def ip4(a):
    return "%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255)


def feed(n4, n6, group):
    """The feed, in order: (family, prefix text, prefix length, network bytes, AS path) for N4
    IPv4 then N6 IPv6 prefixes (see `gen`); every GROUP consecutive prefixes share a path."""
    g = 0
    done = 0
    for k, (plen, share, base) in enumerate(V4_PLAN):
        cnt = n4 - done if k == len(V4_PLAN) - 1 else int(n4 * share)
        step = 1 << (32 - plen)
        for i in range(cnt):
            if (done + i) % group == 0:
                g += 1
            a = base + i * step
            yield "ipv4", "%s/%d" % (ip4(a), plen), plen, struct.pack(">I", a), (4200000000 + g, 64512 + g % 400)
        done += cnt
    n32 = n6 // 10
    for i in range(n6):
        if i % group == 0:
            g += 1
        if i < n6 - n32:
            p, plen, a = "2a00:%x:%x::/48" % (i >> 16, i & 0xFFFF), 48, (0x2a00 << 112) | (i << 80)
        else:
            j = i - (n6 - n32)
            p, plen, a = "2c00:%x::/32" % j, 32, (0x2c00 << 112) | (j << 96)
        yield "ipv6", p, plen, a.to_bytes(16, "big"), (4200000000 + g, 64512 + g % 400)


def gen(n4, n6, group):
    out = sys.stdout
    fam = None
    for f, p, _plen, _net, path in feed(n4, n6, group):
        if f != fam:
            out.write("protocol static feed4 {\n    ipv4;\n" if f == "ipv4" else
                      "%sprotocol static feed6 {\n    ipv6;\n" % ("};\n\n" if fam else ""))
            fam = f
        out.write("    route %s blackhole { bgp_path.prepend(%d); bgp_path.prepend(%d); };\n"
                  % (p, path[1], path[0]))
    out.write("};\n")
    return 0


def gen_frr(n4, n6):
    """FRR bgpd `network` statements per address family (no AS paths: bgpd originates them)."""
    out = sys.stdout
    fam = None
    for f, p, _plen, _net, _path in feed(n4, n6, 1):
        if f != fam:
            out.write("%s address-family %s unicast\n" % (" exit-address-family\n" if fam else "", f))
            fam = f
        out.write("  network %s\n" % p)
    out.write(" exit-address-family\n")
    return 0


def mrt_record(subtype, body, ts):
    return struct.pack(">IHHI", ts, 13, subtype, len(body)) + body  # 13 = TABLE_DUMP_V2


def attr(flags, typ, value):
    if len(value) > 255:
        return struct.pack(">BBH", flags | 0x10, typ, len(value)) + value
    return struct.pack(">BBB", flags, typ, len(value)) + value


# `gobgp mrt inject` (3.10) sends its last records and exits without waiting for gobgpd's
# answer (no CloseAndRecv): what is still in flight is lost (166-820 of 120,000 measured). So
# the file ends with this many records that announce the first prefixes again (the same
# paths: nothing changes when they arrive, nothing is missing when they do not).
MRT_PAD = 10000


def gen_mrt(n4, n6, group, out, nh4, nh6):
    """An MRT TABLE_DUMP_V2 file (RFC 6396) of the feed for `gobgp mrt inject global`: one
    peer (the feeder itself), one entry per prefix: ORIGIN IGP, the AS path (4-octet), next
    hop NH4 / MP_REACH_NLRI with NH6 and no NLRI (GoBGP reads the full attribute); then
    MRT_PAD records of the first prefixes again."""
    ts = int(time.time())
    nh4b, nh6b = ipaddress.ip_address(nh4).packed, ipaddress.ip_address(nh6).packed
    # PEER_INDEX_TABLE: collector id, no view name, one peer (AS4, IPv4 address) = the feeder
    peers = struct.pack(">B4s4sI", 0x02, nh4b, nh4b, 65000)
    with open(out, "wb") as f:
        f.write(mrt_record(1, nh4b + struct.pack(">HH", 0, 1) + peers, ts))
        records = itertools.chain(feed(n4, n6, group), itertools.islice(itertools.cycle(feed(n4, n6, group)), MRT_PAD))
        for seq, (fam, _p, plen, net, path) in enumerate(records):
            attrs = attr(0x40, 1, b"\0") + attr(0x40, 2, struct.pack(">BB", 2, len(path)) +
                                                  b"".join(struct.pack(">I", a) for a in path))
            if fam == "ipv4":
                attrs += attr(0x40, 3, nh4b)
            else:
                attrs += attr(0x80, 14, struct.pack(">HBB", 2, 1, 16) + nh6b + b"\0")
            entry = struct.pack(">HIH", 0, ts, len(attrs)) + attrs
            body = struct.pack(">IB", seq, plen) + net[:(plen + 7) // 8] + struct.pack(">H", 1) + entry
            f.write(mrt_record(2 if fam == "ipv4" else 4, body, ts))  # RIB_IPV4/IPV6_UNICAST
    return 0


def read_mem(pid):
    rss = hwm = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return rss, hwm


def sample(out, interval, max_s, pids):
    stop = [False]

    def on_sig(_s, _f):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    t_end = time.time() + max_s
    with open(out, "a") as f:
        while not stop[0] and time.time() < t_end:
            rss = hwm = alive = 0
            for p in pids:
                m = read_mem(p)
                if m:
                    alive += 1
                    rss += m[0]
                    hwm += m[1]
            if alive == 0:
                break
            f.write("%.3f %d %d\n" % (time.time(), rss, hwm))
            f.flush()
            time.sleep(interval)
    return 0


def exa_count(status):
    v = {"ipv4": 0, "ipv6": 0}
    eor = {"ipv4": 0.0, "ipv6": 0.0}
    up = 0.0
    updates = 0
    last = 0.0

    def write():
        tmp = status + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %.3f %.3f %.3f %d\n" % (v["ipv4"], v["ipv6"], eor["ipv4"], eor["ipv6"], up, updates))
        os.replace(tmp, status)

    write()
    kept = 0
    for line in sys.stdin:
        if kept < 3 and "ipv6 unicast" in line:
            kept += 1
            with open(status + ".sample", "a") as f:
                f.write(line)
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if not isinstance(m, dict):
            continue
        now = time.time()
        forced = False
        if m.get("type") == "state" and m.get("neighbor", {}).get("state") == "up":
            up = now
            forced = True
        msg = m.get("neighbor", {}).get("message", {}) if isinstance(m.get("neighbor"), dict) else {}
        if "eor" in msg:
            afi = msg["eor"].get("afi", "")
            if afi in eor:
                eor[afi] = now
            forced = True
        upd = msg.get("update")
        if isinstance(upd, dict):
            updates += 1
            for fam, per_nh in upd.get("announce", {}).items():
                afi = fam.split()[0]
                if afi in v and isinstance(per_nh, dict) and per_nh:
                    # ExaBGP lists an IPv6 NLRI once per next hop (global and link-local):
                    # the longest list is the UPDATE's NLRI.
                    v[afi] += max(len(x) for x in per_nh.values())
            for fam, lst in upd.get("withdraw", {}).items():
                afi = fam.split()[0]
                if afi in v and isinstance(lst, list):
                    v[afi] -= len(lst)
        if forced or now - last >= 0.1:
            write()
            last = now
    write()
    return 0


def pcap_packets(path):
    """(epoch, src, dst, sport, dport, seq, flags, payload) of IPv4 TCP frames (Ethernet)."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            e = "<"
        else:
            e = ">"
            magic = struct.unpack(">I", hdr[:4])[0]
        nano = magic == 0xA1B23C4D
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                return
            sec, frac, incl, _orig = struct.unpack(e + "IIII", ph)
            data = f.read(incl)
            if len(data) < incl:
                return
            t = sec + frac / (1e9 if nano else 1e6)
            if len(data) < 34 or data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6 or len(ip) < ihl + 20:
                continue
            tot = struct.unpack(">H", ip[2:4])[0]
            src, dst = ip[12:16], ip[16:20]
            tcp = ip[ihl:tot]
            if len(tcp) < 20:
                continue
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            off = (tcp[12] >> 4) * 4
            yield t, src, dst, sport, dport, seq, tcp[13], tcp[off:]


def is_eor(body, typ):
    """End-of-RIB: an UPDATE with nothing but an empty IPv4 body, or only MP_UNREACH(AFI 2)."""
    if typ != 2:
        return None
    if body == b"\x00\x00\x00\x00":
        return "ipv4"
    if len(body) >= 4 and body[:2] == b"\x00\x00":
        alen = struct.unpack(">H", body[2:4])[0]
        a = body[4:4 + alen]
        if len(a) >= 3 and a[1] == 15 and len(body) == 4 + alen:
            ln = a[2] if not a[0] & 0x10 else struct.unpack(">H", a[2:4])[0]
            hl = 3 if not a[0] & 0x10 else 4
            if ln == 3 and len(a) == hl + 3 and a[hl:hl + 2] == b"\x00\x02":
                return "ipv6"
    return None


def pcap_eor(path, src, dst):
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    conns = {}
    order = []
    for t, a, b, sp, dp, seq, flags, pl in pcap_packets(path):
        if a != s or b != d or 179 not in (sp, dp):
            continue
        key = (sp, dp)
        if flags & 0x02:  # SYN: a new connection on this 4-tuple
            conns[key] = {"next": (seq + 1) & 0xFFFFFFFF, "buf": b"", "ka": 0.0, "eor4": 0.0,
                          "eor6": 0.0, "updates": 0, "pend": {}, "gaps": 0}
            order.append(conns[key])
            continue
        c = conns.get(key)
        if c is None or not pl:
            continue
        c["pend"][seq] = (t, pl)
        while True:
            hit = None
            for sq, (tt, p) in c["pend"].items():
                rel = (sq - c["next"]) & 0xFFFFFFFF
                if rel == 0 or rel > 0x80000000:  # at or before the next expected byte
                    hit = sq
                    break
            if hit is None and len(c["pend"]) > 64:
                # A gap (the capture dropped frames): jump to the oldest pending segment and
                # resynchronise on the next BGP marker.
                hit = min(c["pend"], key=lambda q: (q - c["next"]) & 0xFFFFFFFF)
                c["next"] = hit
                c["buf"] = b""
                c["gaps"] += 1
            if hit is None:
                break
            tt, p = c["pend"].pop(hit)
            skip = (c["next"] - hit) & 0xFFFFFFFF
            if skip >= len(p):
                continue
            c["buf"] += p[skip:]
            c["next"] = (c["next"] + len(p) - skip) & 0xFFFFFFFF
            buf = c["buf"]
            i = 0
            if not buf.startswith(MARKER[:len(buf)]):
                j = buf.find(MARKER)
                buf = buf[j:] if j >= 0 else buf[-15:]
            while len(buf) - i >= 19:
                ln = struct.unpack(">H", buf[i + 16:i + 18])[0]
                if ln < 19 or len(buf) - i < ln:
                    break
                typ = buf[i + 18]
                if typ == 4 and not c["ka"]:
                    c["ka"] = tt
                if typ == 2:
                    c["updates"] += 1
                    fam = is_eor(buf[i + 19:i + ln], typ)
                    if fam and not c["eor" + fam[-1]]:
                        c["eor" + fam[-1]] = tt
                i += ln
            c["buf"] = buf[i:]
    for c in order:
        print("%.6f %.6f %.6f %d %d" % (c["ka"], c["eor4"], c["eor6"], c["updates"], c["gaps"]))
    return 0


def report(path):
    rows = []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    print("| receiver | time to EoR (s) | prefixes/s | peak RSS (MiB) | RSS after (MiB) | session stable "
          "| prefixes counted v4/v6 | feeder EoR on wire (s) | lag (s) | UPDATEs from feeder | CPU (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["receiver"], r["eor_s"], r["rate"], r["peak_mib"], r["after_mib"], r["stable"],
            r["counted"], r["wire_s"], r["lag_s"], r["updates"], r["cpu_s"]))
    return 0


def main(argv):
    try:
        cmd = argv[1]
        if cmd == "gen" and len(argv) == 5:
            return gen(int(argv[2]), int(argv[3]), max(1, int(argv[4])))
        if cmd == "gen-frr" and len(argv) == 4:
            return gen_frr(int(argv[2]), int(argv[3]))
        if cmd == "gen-mrt" and len(argv) == 8:
            return gen_mrt(int(argv[2]), int(argv[3]), max(1, int(argv[4])), argv[5], argv[6], argv[7])
        if cmd == "sample" and len(argv) >= 6:
            return sample(argv[2], float(argv[3]), float(argv[4]), [int(p) for p in argv[5:]])
        if cmd == "exa-count" and len(argv) == 3:
            return exa_count(argv[2])
        if cmd == "pcap-eor" and len(argv) == 5:
            return pcap_eor(argv[2], argv[3], argv[4])
        if cmd == "report" and len(argv) == 3:
            return report(argv[2])
    except (IndexError, ValueError) as e:
        sys.stderr.write("bench-full-table.py: %s\n" % e)
        return 2
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
