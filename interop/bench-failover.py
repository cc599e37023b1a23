#!/usr/bin/python3
"""interop/bench-failover.py — the analysis half of bench-failover.sh (stdlib only).

Subcommands:
  relay LOG      copy stdin to stdout unbuffered, and append "EPOCH LINE" to LOG for every
                 line seen: sits between exabgp-healthcheck and ExaBGP to timestamp the
                 moment the healthcheck hands ExaBGP its "withdraw route ..." (its decision).
  analyze OUTDIR PHASEDIR...  per-failover numbers (OUTDIR/runs.tsv) and the markdown table
                 (stdout) from each phase directory written by bench-failover.sh:
                   meta        speaker=..., mode=..., need=N (key=value lines)
                   events.tsv  "i t_svc t_rm t_end" per failover (epoch seconds, µs)
                   decisions   one epoch per line: the speaker's withdraw decisions
                   wire.tsv    frame.time_epoch of UPDATEs from the node carrying withdrawn
                               routes / MP_UNREACH (tshark)
                   ping.log    `ping -D` output of the client
                   idle.tsv    "rss_kb cpu_pct cpu_self_pct window_s"
                 and OUTDIR/monitor-rtr.log (`ip -ts monitor route` in rtr).
                 Exit status 1 if a phase has fewer measured failovers than it needs.
  events OUTDIR PHASEDIR...  the same per failover for bench-events.sh (phases carry
                 kind=file|process|address|systemd in meta; "t_rm" is the event): a row per
                 kind and speaker, and issue 13's goals per kind.
Nothing here touches the network; it only reads files.
"""

import datetime
import os
import re
import sys
import time

ANYCAST = "203.0.113.124"
NODEB = "192.0.2.12"


def relay(log_path):
    """stdin -> stdout byte for byte; every complete line also goes to LOG with the time it
    was read. Exits when stdin closes."""
    buf = b""
    with open(log_path, "ab", buffering=0) as log:
        while True:
            chunk = os.read(0, 65536)
            if not chunk:
                return 0
            now = time.time()
            os.write(1, chunk)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                log.write(b"%.6f %s\n" % (now, line))


def read_floats(path, column=0):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) > column:
                    try:
                        out.append(float(parts[column]))
                    except ValueError:
                        pass
    except FileNotFoundError:
        pass
    return sorted(out)


def read_meta(phase):
    meta = {}
    with open(os.path.join(phase, "meta"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def ping_replies(path):
    """Epoch of every echo reply in `ping -D` output ("[1700000000.123456] 64 bytes from")."""
    pat = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from")
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = pat.match(line)
                if m:
                    out.append(float(m.group(1)))
    except FileNotFoundError:
        pass
    return sorted(out)


def monitor_switches(path):
    """Epochs at which rtr's FIB got 203.0.113.124 via nodeb (`ip -ts monitor route`,
    local-time ISO timestamps with µs)."""
    pat = re.compile(r"^\[([0-9T:.-]+)\] (.*)$")
    want = re.compile(r"^" + re.escape(ANYCAST) + r"(/32)? via " + re.escape(NODEB) + r" ")
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = pat.match(line.rstrip("\n"))
                if not m or not want.match(m.group(2)):
                    continue
                try:
                    ts = datetime.datetime.fromisoformat(m.group(1)).timestamp()
                except ValueError:
                    continue
                out.append(ts)
    except FileNotFoundError:
        pass
    return sorted(out)


def first_at_or_after(values, t):
    for v in values:
        if v >= t:
            return v
    return None


def longest_gap(replies, t0, t1):
    """Longest gap between consecutive replies, over the replies in [t0, t1] plus the last
    reply before t0 (so an outage that starts right at t0 is counted whole)."""
    before = [r for r in replies if r < t0]
    inside = [r for r in replies if t0 <= r <= t1]
    seq = ([before[-1]] if before else []) + inside
    if len(seq) < 2:
        return None
    return max(b - a for a, b in zip(seq, seq[1:]))


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, -(-len(s) * p // 100))  # ceil(n * p / 100), at least rank 1
    return s[int(k) - 1]


def fmt_ms(v):
    if v is None:
        return "n/a"
    ms = v * 1000.0
    if abs(ms) < 1.0:
        return "%.0f µs" % (ms * 1000.0)
    if abs(ms) < 10.0:
        return "%.2f ms" % ms
    return "%.1f ms" % ms


def triple(values):
    if not values:
        return "n/a"
    return "%s / %s / %s" % (fmt_ms(pct(values, 50)), fmt_ms(pct(values, 99)), fmt_ms(max(values)))


def analyze_phase(phase, switches, runs_out):
    meta = read_meta(phase)
    events = []
    with open(os.path.join(phase, "events.tsv"), encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if len(p) == 4:
                events.append((int(p[0]), float(p[1]), float(p[2]), float(p[3])))
    decisions = read_floats(os.path.join(phase, "decisions"))
    wire = read_floats(os.path.join(phase, "wire.tsv"))
    replies = ping_replies(os.path.join(phase, "ping.log"))
    cols = {"dec": [], "flag": [], "out": [], "sw": [], "det": []}
    measured = 0
    for i, t_svc, t_rm, t_end in events:
        d = first_at_or_after(decisions, t_rm)
        if d is not None and d > t_end:
            d = None
        w = first_at_or_after(wire, t_rm)
        if w is not None and w > t_end:
            w = None
        sw = first_at_or_after(switches, t_rm)
        if sw is not None and sw > t_end:
            sw = None
        gap = longest_gap(replies, t_svc, t_end)
        dec_wire = (w - d) if (w is not None and d is not None) else None
        flag_wire = (w - t_rm) if w is not None else None
        switch = (sw - w) if (sw is not None and w is not None) else None
        runs_out.write(
            "%s\t%s\t%d\t%s\t%s\t%s\t%s\n"
            % (
                meta.get("speaker"),
                meta.get("mode"),
                i,
                "%.6f" % dec_wire if dec_wire is not None else "-",
                "%.6f" % flag_wire if flag_wire is not None else "-",
                "%.6f" % gap if gap is not None else "-",
                "%.6f" % switch if switch is not None else "-",
            )
        )
        if dec_wire is not None:
            cols["dec"].append(dec_wire)
        if d is not None:
            cols["det"].append(d - t_rm)
        if flag_wire is not None:
            cols["flag"].append(flag_wire)
        if gap is not None:
            cols["out"].append(gap)
        if switch is not None:
            cols["sw"].append(switch)
        # A failover counts as measured when the withdraw was on the wire, the client's
        # outage and the router's switch were seen (decision->wire may be n/a by design).
        if flag_wire is not None and gap is not None and switch is not None:
            measured += 1
    idle = ["n/a", "n/a", "n/a"]
    try:
        with open(os.path.join(phase, "idle.tsv"), encoding="utf-8") as f:
            p = f.read().split()
        if len(p) >= 3:
            idle = ["%.1f MiB" % (int(p[0]) / 1024.0), "%.2f %%" % float(p[1]), "%.2f %%" % float(p[2])]
    except (FileNotFoundError, ValueError):
        pass
    need = int(meta.get("need", "1"))
    meta["measured"] = measured
    row = "| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s (own %s) |" % (
        meta.get("speaker"),
        meta.get("mode"),
        measured,
        len(events),
        triple(cols["dec"]) if meta.get("decision") != "none" else "n/a (no decision timestamp)",
        triple(cols["flag"]),
        triple(cols["out"]),
        triple(cols["sw"]),
        idle[0],
        idle[1],
        idle[2],
    )
    problems = []
    if measured < need:
        problems.append("%s/%s: %d of %d needed failovers measured" % (meta.get("speaker"), meta.get("mode"), measured, need))
    if meta.get("decision") != "none" and len(cols["dec"]) < need:
        problems.append("%s/%s: only %d decision->wire samples" % (meta.get("speaker"), meta.get("mode"), len(cols["dec"])))
    return row, problems, cols, meta


def analyze(outdir, phases):
    switches = monitor_switches(os.path.join(outdir, "monitor-rtr.log"))
    rows, problems, summary = [], [], []
    with open(os.path.join(outdir, "runs.tsv"), "w", encoding="utf-8") as runs_out:
        runs_out.write("speaker\tmode\ti\tdecision_to_wire_s\tflag_to_wire_s\tclient_outage_s\trouter_switch_s\n")
        for phase in phases:
            row, probs, cols, meta = analyze_phase(phase, switches, runs_out)
            rows.append(row)
            problems.extend(probs)
            summary.append((meta, cols))
    print("| speaker | mode | runs measured | decision→wire p50 / p99 / max | flag removal→wire p50 / p99 / max "
          "| client outage p50 / p99 / max | router switch (UPDATE→FIB) p50 / p99 / max | idle RSS "
          "| CPU % of a core, idle 10 s (self+children) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)
    n = max((len(c["flag"]) for _, c in summary), default=0)
    if n and n < 100:
        print("\np50/p99 are nearest-rank percentiles; with fewer than 100 samples (here ≤ %d) p99 is the max." % n)
    # Goals.
    acd = [c for m, c in summary if m.get("speaker") == "anycastd"]
    exa = [c for m, c in summary if m.get("speaker") == "exabgp" and m.get("mode") == "withdraw"]
    if acd and acd[0]["dec"]:
        p99 = pct(acd[0]["dec"], 99)
        print("goal anycastd decision→wire p99 ≤ 1 ms: %s (%s)" % ("met" if p99 <= 0.001 else "NOT met", fmt_ms(p99)))
    if acd and acd[0]["out"]:
        mx = max(acd[0]["out"])
        print("goal client outage ≤ 150 ms (interval 100 ms, fall 1): %s (max %s, p50 %s)"
              % ("met" if mx <= 0.150 else "NOT met", fmt_ms(mx), fmt_ms(pct(acd[0]["out"], 50))))
    if acd and exa:
        for key, name in (("dec", "decision→wire"), ("flag", "flag removal→wire"), ("out", "client outage")):
            if acd[0][key] and exa[0][key]:
                a50, e50 = pct(acd[0][key], 50), pct(exa[0][key], 50)
                a99, e99 = pct(acd[0][key], 99), pct(exa[0][key], 99)
                r50 = e50 / a50 if a50 > 0 else float("inf")
                r99 = e99 / a99 if a99 > 0 else float("inf")
                print("ExaBGP/anycastd %s: p50 %.1f×, p99 %.1f× (goal ≥ 10×: %s)"
                      % (name, r50, r99, "met" if min(r50, r99) >= 10 else "NOT met"))
    for p in problems:
        print("NOT MEASURED: " + p, file=sys.stderr)
    return 1 if problems else 0


def p50_p99(values):
    if not values:
        return "n/a"
    return "%s / %s" % (fmt_ms(pct(values, 50)), fmt_ms(pct(values, 99)))


# Issue 13's goals for the event-driven kinds: event -> wire p99 and ExaBGP/anycastd ratio
# (file, process, address), client outage max (every kind).
EVENT_WIRE_P99_S = 0.002
EVENT_RATIO = 25.0
EVENT_OUTAGE_S = 0.020
EVENT_WIRE_KINDS = ("file", "process", "address")


def ratio(exa, acd, p):
    a, e = pct(acd, p), pct(exa, p)
    return e / a if a > 0 else float("inf")


def baseline_gaps(phase, window=0.3):
    """Longest gap between replies in the `window` s before each event: the client's own
    jitter with no failover in progress (for file/process the address stays on nodea, so the
    client's outage is this jitter unless the route move costs more)."""
    replies = ping_replies(os.path.join(phase, "ping.log"))
    out = []
    with open(os.path.join(phase, "events.tsv"), encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if len(p) == 4:
                gap = longest_gap(replies, float(p[1]) - window, float(p[1]))
                if gap is not None:
                    out.append(gap)
    return out


def analyze_events(outdir, phases):
    """bench-events.sh: one anycastd and one ExaBGP phase per kind (meta kind=...); the same
    per-failover numbers as `analyze` (event = the flag column: event -> wire), one table row
    per kind and speaker, the goals per kind."""
    switches = monitor_switches(os.path.join(outdir, "monitor-rtr.log"))
    problems, by_kind = [], {}
    with open(os.path.join(outdir, "runs.tsv"), "w", encoding="utf-8") as runs_out:
        runs_out.write("speaker\tkind\ti\tdecision_to_wire_s\tevent_to_wire_s\tclient_outage_s\trouter_switch_s\n")
        for phase in phases:
            row, probs, cols, meta = analyze_phase(phase, switches, runs_out)
            problems.extend(probs)
            measured = meta["measured"]
            cols["base"] = baseline_gaps(phase)
            by_kind.setdefault(meta.get("kind", meta.get("mode")), {})[meta.get("speaker")] = (cols, measured, meta)
    print("| kind | speaker | runs | event → wire p50 / p99 | event → decision p50 / p99 | decision → wire p50 / p99 "
          "| client outage p50 / p99 | router switch (UPDATE→FIB) p50 / p99 "
          "| ping gap with no failover (300 ms before) p50 / p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, speakers in by_kind.items():
        for speaker in ("anycastd", "exabgp"):
            if speaker not in speakers:
                continue
            cols, measured, meta = speakers[speaker]
            print("| %s | %s | %d/%s | %s | %s | %s | %s | %s | %s |" % (
                kind, "**anycastd**" if speaker == "anycastd" else "ExaBGP", measured, meta.get("need"),
                p50_p99(cols["flag"]), p50_p99(cols["det"]), p50_p99(cols["dec"]), p50_p99(cols["out"]), p50_p99(cols["sw"]),
                p50_p99(cols["base"])))
    n = max((len(c["flag"]) for s in by_kind.values() for c, _, _ in s.values()), default=0)
    if n and n < 100:
        print("\np50/p99 are nearest-rank percentiles; with fewer than 100 samples (here ≤ %d) p99 is the max." % n)
    for kind, speakers in by_kind.items():
        acd = speakers.get("anycastd", ({}, 0, {}))[0]
        exa = speakers.get("exabgp", ({}, 0, {}))[0]
        out = []
        if acd.get("flag"):
            p99 = pct(acd["flag"], 99)
            goal = ("goal ≤ 2 ms %s" % ("met" if p99 <= EVENT_WIRE_P99_S else "NOT met")) \
                if kind in EVENT_WIRE_KINDS else "no goal"
            out.append("anycastd event → wire p99 %s (%s)" % (fmt_ms(p99), goal))
        if acd.get("flag") and exa.get("flag"):
            r50, r99 = ratio(exa["flag"], acd["flag"], 50), ratio(exa["flag"], acd["flag"], 99)
            goal = (", goal ≥ 25× %s" % ("met" if min(r50, r99) >= EVENT_RATIO else "NOT met")) \
                if kind in EVENT_WIRE_KINDS else ""
            out.append("ExaBGP/anycastd event → wire p50 %.1f×, p99 %.1f×%s" % (r50, r99, goal))
        if acd.get("out"):
            mx = max(acd["out"])
            out.append("anycastd client outage max %s (goal ≤ 20 ms %s)"
                       % (fmt_ms(mx), "met" if mx <= EVENT_OUTAGE_S else "NOT met"))
        if acd.get("out") and exa.get("out"):
            out.append("ExaBGP/anycastd client outage p50 %.1f×, p99 %.1f×"
                       % (ratio(exa["out"], acd["out"], 50), ratio(exa["out"], acd["out"], 99)))
        print("%s: %s" % (kind, "; ".join(out) if out else "no anycastd phase to compare"))
    for p in problems:
        print("NOT MEASURED: " + p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "relay":
        return relay(argv[2])
    if len(argv) >= 4 and argv[1] == "analyze":
        return analyze(argv[2], argv[3:])
    if len(argv) >= 4 and argv[1] == "events":
        return analyze_events(argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
