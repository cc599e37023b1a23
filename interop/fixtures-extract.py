#!/usr/bin/python3
"""Turn a lab pcap of a BGP session into fixture JSON files (one per message).

Owns: TCP reassembly of each direction (by sequence number, retransmissions
dropped), splitting the byte stream into BGP messages by their header length
(several messages per segment and messages spanning segments both handled),
naming them, decoding them with bgpdecode.py (`expected`) and cross-checking
each against tshark's dissection of the very same bytes (`crosscheck`: every
message is re-wrapped alone into a one-packet pcap with text2pcap and
dissected with -o bgp.asn_len:4).
Must not: modify the pcap, or write a fixture whose own decoding and tshark's
disagree without saying so (disagreements are listed and make it exit 1).

Usage: fixtures-extract.py --pcap P --out DIR --src 192.0.2.1 [--pcap-path REL]
       [--timeline FILE] [--tools FILE] [--command TEXT] [--vendor TEXT]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in interop/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bgpdecode  # noqa: E402

TSHARK = "tshark"


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


# ----------------------------------------------------------------- reassembly
def read_segments(pcap):
    fields = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src",
              "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.seq_raw", "tcp.payload"]
    cmd = [TSHARK, "-r", pcap, "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    segs = []
    for line in run(cmd).splitlines():
        p = line.split("\t")
        if len(p) != len(fields):
            continue
        segs.append({
            "frame": int(p[0]), "time": float(p[1]), "stream": int(p[2]),
            "src": p[3] or p[4], "sport": int(p[5]), "dst": p[6] or p[7], "dport": int(p[8]),
            "seq": int(p[9]), "payload": bytes.fromhex(p[10].replace(":", "")),
        })
    return segs


def split_messages(segs):
    """Yield messages per direction, in stream order, with their start frame."""
    flows = {}
    for s in segs:
        key = (s["stream"], s["src"], s["sport"], s["dst"], s["dport"])
        flows.setdefault(key, []).append(s)
    out = []
    for key, ss in flows.items():
        # Offsets relative to the first data segment captured (frame order),
        # modulo 2^32 so that a sequence-number wrap-around is harmless.
        base = min(ss, key=lambda s: s["frame"])["seq"]
        data = bytearray()
        owner = []  # frame of each byte
        times = []
        for s in sorted(ss, key=lambda s: ((s["seq"] - base) % 2**32, s["frame"])):
            off = (s["seq"] - base) % 2**32
            if off > len(data):
                raise SystemExit(f"gap in TCP stream {key} before frame {s['frame']} (capture lost data)")
            new = s["payload"][len(data) - off:]  # drop retransmitted bytes
            data += new
            owner += [s["frame"]] * len(new)
            times += [s["time"]] * len(new)
        off, per_frame = 0, {}
        while off + 19 <= len(data):
            if data[off:off + 16] != b"\xff" * 16:
                raise SystemExit(f"stream {key}: no BGP marker at byte {off} (frame {owner[off]})")
            length = int.from_bytes(data[off + 16:off + 18], "big")
            if length < 19 or length > 65535 or off + length > len(data):
                break
            frame = owner[off]
            idx = per_frame.get(frame, 0)
            per_frame[frame] = idx + 1
            out.append({"flow": key, "frame": frame, "index_in_frame": idx, "time": times[off],
                        "end_frame": owner[off + length - 1], "bytes": bytes(data[off:off + length])})
            off += length
        if off != len(data):
            print(f"warning: {len(data) - off} trailing bytes in {key}", file=sys.stderr)
    return out


# ------------------------------------------------------------------- naming
def fixture_name(exp, prefix):
    t = exp["type"]
    if t == "OPEN":
        return f"open-{prefix}"
    if t == "KEEPALIVE":
        return f"keepalive-{prefix}"
    if t == "ROUTE-REFRESH":
        fam = {1: "ipv4", 2: "ipv6"}.get(exp.get("afi"), f"afi{exp.get('afi')}")
        return f"route-refresh-{prefix}-{fam}-unicast"
    if t == "NOTIFICATION":
        sub = exp.get("error_subcode_name", str(exp.get("error_subcode"))).lower().replace(" ", "-")
        return f"notification-{prefix}-{exp['error_name'].lower().replace(' ', '-')}-{sub}"
    if t == "UPDATE":
        if "end_of_rib" in exp:
            fam = {1: "ipv4", 2: "ipv6"}.get(exp["end_of_rib"]["afi"], "afi")
            return f"update-{prefix}-end-of-rib-{fam}"
        codes = [a["type_code"] for a in exp["path_attributes"]]
        if exp["withdrawn"] and not codes:
            return f"update-{prefix}-withdraw-ipv4-{len(exp['withdrawn'])}-prefixes"
        if codes == [15]:
            n = len(exp["path_attributes"][0]["value"]["withdrawn"])
            return f"update-{prefix}-mp-unreach-ipv6-{n}-prefixes"
        if 14 in codes:
            mp = next(a for a in exp["path_attributes"] if a["type_code"] == 14)["value"]
            return f"update-{prefix}-mp-reach-ipv6-{len(mp['nlri'])}-prefixes-communities-med"
        return f"update-{prefix}-ipv4-{len(exp['nlri'])}-prefixes-communities-med"
    return f"{t.lower()}-{prefix}"


# ----------------------------------------------------------------- tshark side
def tshark_dissect(msgs):
    """Dissect every message alone (one packet each) with tshark: JSON + tree text."""
    with tempfile.TemporaryDirectory() as tmp:
        hexdump = os.path.join(tmp, "msgs.txt")
        pcap = os.path.join(tmp, "msgs.pcap")
        with open(hexdump, "w") as f:
            for m in msgs:
                b = m["bytes"]
                for off in range(0, len(b), 16):
                    f.write(f"{off:06x} " + " ".join(f"{x:02x}" for x in b[off:off + 16]) + "\n")
        src, sport, dst, dport = m["flow"][1], m["flow"][2], m["flow"][3], m["flow"][4]
        run(["text2pcap", "-q", "-4", f"{src},{dst}", "-T", f"{sport},{dport}", hexdump, pcap])
        opts = ["-o", "bgp.asn_len:4", "-d", f"tcp.port=={dport},bgp"]
        js = json.loads(run([TSHARK, "-r", pcap, *opts, "-T", "json", "--no-duplicate-keys"]))
        trees = []
        for i in range(1, len(msgs) + 1):
            text = run([TSHARK, "-r", pcap, *opts, "-Y", f"frame.number == {i}", "-V", "-O", "bgp"])
            lines = text.splitlines()
            start = next((k for k, l in enumerate(lines) if l.startswith("Border Gateway Protocol")), None)
            tree = [l for l in lines[start:] if l.strip()] if start is not None else []
            trees.append(tree)
        version = run([TSHARK, "--version"]).splitlines()[0]
    layers = [p["_source"]["layers"].get("bgp") for p in js]
    return layers, trees, version


def walk(node, out):
    """Flatten tshark JSON into {field: [values...]} (tree keys recursed)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                if isinstance(v, list) and all(isinstance(x, str) for x in v):
                    out.setdefault(k, []).extend(v)
                else:
                    walk(v, out)
            else:
                out.setdefault(k, []).append(v)
    elif isinstance(node, list):
        for x in node:
            walk(x, out)
    return out


def tshark_fields(layer):
    f = walk(layer, {})

    def g(name):
        return f.get(name, [])

    def ints(name):
        return [int(x, 0) for x in g(name)]

    summary = {"type_code": ints("bgp.type"), "length": ints("bgp.length")}
    t = summary["type_code"][0] if summary["type_code"] else None
    if t == 1:
        summary.update(my_as=ints("bgp.open.myas"), hold_time=ints("bgp.open.holdtime"),
                       bgp_id=g("bgp.open.identifier"), capability_codes=ints("bgp.cap.type"))
    elif t == 2:
        summary.update(
            withdrawn_addresses=g("bgp.withdrawn_prefix") + g("bgp.mp_unreach_nlri_ipv6_prefix")
            + g("bgp.mp_unreach_nlri_ipv4_prefix"),
            nlri_addresses=g("bgp.nlri_prefix") + g("bgp.mp_reach_nlri_ipv6_prefix")
            + g("bgp.mp_reach_nlri_ipv4_prefix"),
            path_attribute_type_codes=ints("bgp.update.path_attribute.type_code"),
            as_path=ints("bgp.update.path_attribute.as_path_segment.as4"),
            next_hop=g("bgp.update.path_attribute.next_hop")
            + g("bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv6")
            + g("bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv6.link_local")
            + g("bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv4"),
            med=ints("bgp.update.path_attribute.multi_exit_disc"),
            communities=[f"{a}:{b}" for a, b in zip(g("bgp.update.path_attribute.community_as"),
                                                    g("bgp.update.path_attribute.community_value"))]
            + [f"wk:{x}" for x in g("bgp.update.path_attribute.community_wellknown")],
            large_communities=[
                f"{a}:{b}:{c}" for a, b, c in zip(
                    g("bgp.large_communities.ga"), g("bgp.large_communities.ldp1"),
                    g("bgp.large_communities.ldp2"))],
        )
    elif t == 3:
        summary.update(error_code=ints("bgp.notify.major_error"),
                       error_subcode=ints("bgp.notify.minor_error_cease"),
                       shutdown_text=g("bgp.notify.communication"))
    elif t == 5:
        summary.update(afi=ints("bgp.route_refresh.afi"), subtype=ints("bgp.route_refresh.subtype"),
                       safi=ints("bgp.route_refresh.safi"))
    summary = {k: v for k, v in summary.items() if v}
    return summary, f


# ----------------------------------------------------------------- comparison
def addr_only(prefixes):
    return sorted(p.split("/")[0] for p in prefixes)


def compare(exp, ts):
    """Field-by-field: own decoding vs tshark; returns (agrees_on, disagrees)."""
    pairs = [("type_code", [exp["type_code"]], ts.get("type_code", [])),
             ("length", [exp["length"]], ts.get("length", []))]
    t = exp["type_code"]
    if t == 1:
        pairs += [("my_as", [exp["my_as"]], ts.get("my_as", [])), ("hold_time", [exp["hold_time"]], ts.get("hold_time", [])),
                  ("bgp_id", [exp["bgp_id"]], ts.get("bgp_id", [])),
                  ("capability_codes", [c["code"] for c in exp["capabilities"]], ts.get("capability_codes", []))]
    elif t == 2:
        attrs = {a["type_code"]: a for a in exp["path_attributes"]}
        mp_r = attrs.get(14, {}).get("value", {})
        mp_u = attrs.get(15, {}).get("value", {})
        pairs += [
            ("path_attribute_type_codes", [a["type_code"] for a in exp["path_attributes"]],
             ts.get("path_attribute_type_codes", [])),
            ("nlri_addresses", addr_only(exp["nlri"] + mp_r.get("nlri", [])), addr_only(ts.get("nlri_addresses", []))),
            ("withdrawn_addresses", addr_only(exp["withdrawn"] + mp_u.get("withdrawn", [])),
             addr_only(ts.get("withdrawn_addresses", []))),
        ]
        if 2 in attrs:
            pairs.append(("as_path", [n for s in attrs[2]["segments"] for n in s["asns"]], ts.get("as_path", [])))
        if 3 in attrs or 14 in attrs:
            nh = ([attrs[3]["value"]] if 3 in attrs else []) + mp_r.get("nexthops", [])
            pairs.append(("next_hop", sorted(set(nh)), sorted(set(ts.get("next_hop", [])))))
        if 4 in attrs:
            pairs.append(("med", [attrs[4]["value"]], ts.get("med", [])))
        if 8 in attrs:
            mine = []
            for c in attrs[8]["communities"]:
                mine.append(c if ":" in c else f"wk:{c}")
            theirs = []
            for c in ts.get("communities", []):
                if c.startswith("wk:"):
                    v = int(c[3:], 0)
                    theirs.append("wk:" + bgpdecode.WELL_KNOWN_COMMUNITIES.get(v, hex(v)))
                else:
                    theirs.append(c)
            pairs.append(("communities", sorted(mine), sorted(theirs)))
        if 32 in attrs:
            pairs.append(("large_communities", attrs[32]["large_communities"], ts.get("large_communities", [])))
    elif t == 3:
        pairs += [("error_code", [exp["error_code"]], ts.get("error_code", []))]
        if exp["error_code"] == 6:
            pairs.append(("cease_subcode", [exp["error_subcode"]], ts.get("error_subcode", [])))
        if "shutdown_communication" in exp:
            pairs.append(("shutdown_communication", [exp["shutdown_communication"]["text"]], ts.get("shutdown_text", [])))
    elif t == 5:
        pairs += [("afi", [exp["afi"]], ts.get("afi", [])), ("subtype", [exp["subtype"]], ts.get("subtype", [])),
                  ("safi", [exp["safi"]], ts.get("safi", []))]
    agrees, disagrees = [], []
    for name, mine, theirs in pairs:
        if mine == theirs:
            agrees.append(name)
        else:
            disagrees.append({"field": name, "ours": mine, "tshark": theirs})
    return agrees, disagrees


# --------------------------------------------------------------------- main
def parse_timeline(path):
    steps = []
    if not path:
        return steps
    with open(path) as f:
        for line in f:
            ts, _, what = line.rstrip("\n").partition(" ")
            sec, _, ms = ts.partition(".")
            t = time.mktime(time.strptime(sec, "%Y-%m-%dT%H:%M:%S")) + int(ms or 0) / 1000
            steps.append((t, what))
    return steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--src", required=True, help="extract messages sent by this address")
    ap.add_argument("--pcap-path", help="pcap path recorded in origin.path (project-relative)")
    ap.add_argument("--timeline")
    ap.add_argument("--tools")
    ap.add_argument("--command", default="")
    ap.add_argument("--vendor", default="BIRD 2.0.12")
    ap.add_argument("--name-prefix", default="bird-lab")
    ap.add_argument("--notes", help="JSON object: fixture-name prefix -> notes text")
    a = ap.parse_args()

    msgs = [m for m in split_messages(read_segments(a.pcap)) if m["flow"][1] == a.src]
    if not msgs:
        raise SystemExit(f"no BGP messages from {a.src} in {a.pcap}")
    # One fixture per distinct message (repeated KEEPALIVEs are kept once).
    seen, uniq = set(), []
    for m in msgs:
        if m["bytes"] not in seen:
            seen.add(m["bytes"])
            uniq.append(m)
    layers, trees, tshark_version = tshark_dissect(uniq)
    tools = {}
    if a.tools:
        with open(a.tools) as f:
            for line in f:
                k, _, v = line.strip().partition(": ")
                tools[k] = v
    steps = parse_timeline(a.timeline)
    notes = {}
    if a.notes:
        with open(a.notes) as f:
            notes = json.load(f)
    names, failures, written = set(), 0, []
    for m, layer, tree in zip(uniq, layers, trees):
        exp = bgpdecode.decode_message(m["bytes"], four_octet_as=True)
        name = fixture_name(exp, a.name_prefix)
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.add(name)
        ts_summary, flat = tshark_fields(layer) if layer else ({}, {})
        expert = flat.get("_ws.expert.message", [])
        agrees, disagrees = compare(exp, ts_summary) if layer else ([], [{"field": "all", "tshark": None}])
        if "error" in exp or disagrees:
            failures += 1
            print(f"{name}: error={exp.get('error')} disagrees={disagrees}", file=sys.stderr)
        step = next((w for t, w in reversed(steps) if t <= m["time"] + 0.001), None)
        flow = m["flow"]
        when = datetime.datetime.fromtimestamp(m["time"], datetime.timezone.utc)
        fx = {
            "name": name,
            "kind": "message",
            "split": "lab",
            "hex": m["bytes"].hex(),
            "byte_length": len(m["bytes"]),
            "provenance": "lab-capture-produced-here",
            "origin": {
                "repo": None,
                "path": a.pcap_path or os.path.basename(a.pcap),
                "frame": m["frame"],
                "message_index_in_frame": m["index_in_frame"],
                "direction": f"{flow[1]}.{flow[2]} -> {flow[3]}.{flow[4]}",
                "date": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "command": a.command,
                "step": step,
                "tools": tools,
            },
            "vendor": a.vendor,
            "vendor_evidence": "daemon run in the project lab (Debian 12 packages) inside a private network namespace",
            "licence": "produced in the project lab; no third-party rights in the bytes (CC0-style, project-owned)",
            "decode_context": {"four_octet_as": True, "add_path": False},
            "expected": exp,
            "expected_basis": "structured summary produced by interop/bgpdecode.py (independent of anycastd's "
                              "decoder); cross-checked field-by-field against tshark (see crosscheck)",
            "source_expectation": {},
            "crosscheck": {
                "tool": tshark_version,
                "method": "message re-wrapped alone in a one-packet pcap (text2pcap), "
                          "tshark -o bgp.asn_len:4 -T json / -V -O bgp",
                "bgp.asn_len": 4,
                "fields": ts_summary,
                "agrees_on": agrees,
                "tshark_expert_info": "; ".join(expert) or None,
                "disagrees": disagrees,
                "tshark_tree_condensed": tree[:80] + (["    [... truncated]"] if len(tree) > 80 else []),
            },
            "notes": next((v for k, v in notes.items() if name.startswith(k)), ""),
        }
        if m["end_frame"] != m["frame"]:
            fx["origin"]["end_frame"] = m["end_frame"]
        path = os.path.join(a.out, name + ".json")
        with open(path, "w") as f:
            json.dump(fx, f, indent=2)
            f.write("\n")
        written.append((name, exp["type"], len(m["bytes"]), m["frame"], m["index_in_frame"], agrees))
    for w in written:
        print(f"{w[0]}: {w[1]} {w[2]} bytes, frame {w[3]}#{w[4]}, tshark agrees on {','.join(w[5])}")
    print(f"{len(written)} fixtures written to {a.out} ({len(msgs)} messages from {a.src}, "
          f"{len(msgs) - len(uniq)} duplicates skipped); {failures} with disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
