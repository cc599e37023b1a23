#!/usr/bin/python3
"""interop/profile-steady.py — which functions the daemon runs once start-up is done (issue 15, lean).

Writes packaging/steady.ld, the linker script that lays those functions out together at the
start of `.text` (build.rs passes it to the link of the anycastd binary). Why: an idle daemon's
resident memory is mostly its own code, mapped in 64 KiB blocks around every page touched;
with the steady-state code in a few blocks and start-up's pages unmapped once it is done
(src/resident.rs), what stays resident is what runs (BENCHMARKS.md, "Idle RSS").

How: one loopback pair as interop/bench-idle.py sets up (127.0.0.1 <-> 127.0.0.2, one prefix,
static role, BFD 300 ms x 3, a metrics listener), the measured daemon under valgrind's callgrind
with a health check of each kind that needs nothing outside this run (file, exec, tcp to its own
metrics listener, process on a `sleep` of ours). Once the session is Established and BFD Up, the
counters are zeroed and the steady-state work an operator's node does is run: keepalives, BFD
and the checks for 12 s, every status form, a metrics scrape, `check`, the flag file removed and
put back (a withdraw and an announce decided by a check), drain and undrain, `neighbor reset`
(session down and up again). Not a
reload: the daemon unmaps its code again once a reload is done. Every function with a cost after the zero goes in the script, as a section pattern
without the symbol's hash (legacy `17h…E`, v0 crate disambiguators, `.llvm.N` suffixes), so that
the script keeps matching the same functions across builds and versions. A function it misses
only stays in the default order.

Usage (root, for BFD's port 3784): interop/profile-steady.py [BINARY] [--out packaging/steady.ld]
(default BINARY: target/x86_64-unknown-linux-musl/release/anycastd). Bounded: ~60 s; every
process it starts is ended by PID; its temp dir is removed.
"""

import argparse
import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from lab.bench import procstat  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_idle", HERE / "bench-idle.py")
bench_idle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_idle)

PORT, METRICS = 17970, "127.0.0.1:17971"


LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E(\.llvm\.\d+)?$")


def key(sym):
    """A symbol's name without what changes from build to build: the legacy hash (`17h…E`), a v0
    crate disambiguator (`Cs<base62>_`), an `.llvm.N` suffix."""
    s = re.sub(r"\.llvm\.\d+$", "", sym)
    if s.startswith("_ZN"):
        return LEGACY_HASH.sub("", s)
    if s.startswith("_R"):
        # Back-references are offsets into the name, so they move with a disambiguator's length.
        return re.sub(r"B[0-9A-Za-z]*_", "B*_", re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", s))
    return None


def pattern(sym):
    """The section pattern for one function: its hash-free name ([`key`]), so that the script goes
    on matching it in later builds. Where two functions of a build share a key (two versions of
    a crate), both match: both go in the steady-state block, a few hundred bytes at most."""
    k = key(sym)
    if k is None:
        return None
    if sym.startswith("_ZN"):
        return f".text.{k}17h{'?' * 16}E*"
    return f".text.{k}*"


def text_symbols(binary):
    """name -> size of the binary's function symbols (nm)."""
    out = subprocess.run(["nm", "--defined-only", "-S", binary], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms[f[3]] = int(f[1], 16)
    return syms


def callgrind_functions(path):
    """The names of the functions that have a cost in a callgrind dump."""
    names, costed = {}, set()
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, ident, name = m.groups()
            if name:
                names[ident] = name
            if kind == "fn":
                costed.add(ident)
    return sorted(names[i] for i in costed if i in names)


def checks(tmp, procs):
    """A health check of each kind that needs nothing outside this run; the file check fast."""
    flag, pidfile = f"{tmp}/flag", f"{tmp}/sleeper.pid"
    Path(flag).touch()
    sleeper = subprocess.Popen(["sleep", "300"])
    procs.append(sleeper)
    Path(pidfile).write_text(f"{sleeper.pid}\n")
    return "".join(
        f'[[health.check]]\nname = "{name}"\n{body}\n'
        for name, body in (
            ("flag", f'type = "file"\npath = "{flag}"\ninterval_ms = 200\nrise = 1\nfall = 1'),
            ("exec", 'type = "exec"\ncommand = ["/bin/true"]'),
            ("port", f'type = "tcp"\naddress = "{METRICS}"'),
            ("proc", f'type = "process"\npidfile = "{pidfile}"'),
        )
    )


def wait_for(what, pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise SystemExit(f"profile-steady: {what} not within {seconds} s")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default="target/x86_64-unknown-linux-musl/release/anycastd")
    ap.add_argument("--out", default=str(HERE.parent / "packaging/steady.ld"))
    a = ap.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("profile-steady: needs valgrind (apt install valgrind)")
    tmp = tempfile.mkdtemp(prefix="acd-steady-")
    procs = []
    try:
        dirs = {}
        for role, me, peer, active in (("a", "127.0.0.1", "127.0.0.2", True), ("b", "127.0.0.2", "127.0.0.1", False)):
            d = dirs[role] = f"{tmp}/{role}"
            os.makedirs(f"{d}/state")
            conf = bench_idle.config(d, PORT, me, peer, active, True)
            if role == "a":
                conf += f'[metrics]\nlisten = "{METRICS}"\n' + checks(tmp, procs)
            Path(f"{d}/anycastd.toml").write_text(conf)
            cmd = [a.binary, "run", "--config", f"{d}/anycastd.toml"]
            if role == "a":
                cmd = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={tmp}/cg.out"] + cmd
            procs.append(subprocess.Popen(cmd, stdout=open(f"{d}/log", "w"), stderr=subprocess.STDOUT))
            if role == "a":
                vg = procs[-1].pid
        sock = f"{dirs['a']}/anycastd.sock"

        def cli(*args, check=False):
            return subprocess.run([a.binary, *args, "--socket", sock], capture_output=True, text=True,
                                  timeout=60, check=check)

        def up():
            st = bench_idle.status(a.binary, dirs["a"])
            ns = st.get("neighbors", [])
            return bool(ns) and all(n.get("state") == "Established" and (n.get("bfd") or {}).get("state") == "Up"
                                    for n in ns)
        wait_for("Established with BFD Up", up, 40)
        subprocess.run(["callgrind_control", "-z", str(vg)], capture_output=True, check=True, timeout=30)
        time.sleep(12)  # keepalives (hold 9 s) and BFD
        for args in (["status"], ["status", "-v"], ["status", "--json"], ["status", "--neighbor", "127.0.0.2"],
                     ["check"]):
            cli(*args)
        urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=20).read()
        os.unlink(f"{tmp}/flag")
        time.sleep(2)
        Path(f"{tmp}/flag").touch()
        time.sleep(2)
        cli("drain", "--seconds", "1")
        time.sleep(2)
        cli("undrain")
        cli("neighbor", "reset", "127.0.0.2")
        wait_for("Established again after the reset", up, 40)
        time.sleep(4)
        urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=20).read()
        cli("status")
        subprocess.run(["callgrind_control", "-d", str(vg)], capture_output=True, check=True, timeout=30)
        dumps = sorted(Path(tmp).glob("cg.out.*"))
        if not dumps:
            raise SystemExit("profile-steady: callgrind wrote no dump")
        fns = callgrind_functions(dumps[-1])
        syms = text_symbols(a.binary)
        pats = sorted({p for p in map(pattern, fns) if p})
        matched = [n for n in syms if any(fnmatch.fnmatchcase(f".text.{n}", p) for p in pats)]
        size = sum(syms[n] for n in matched)
        head = (
            "/* packaging/steady.ld, written by interop/profile-steady.py: the functions the daemon\n"
            "   runs once start-up is done, laid out together before the rest of .text (issue 15,\n"
            "   BENCHMARKS.md \"Idle RSS\"). Regenerate it with that script; a function missing here\n"
            f"   only keeps its default place. {len(fns)} functions run, {len(pats)} patterns,\n"
            f"   {len(matched)} functions ({size // 1024} KiB) matched in the profiled build. */\n"
        )
        body = "SECTIONS\n{\n  .text.steady : {\n" + "".join(f"    *({p})\n" for p in pats) + "  }\n}\nINSERT BEFORE .text;\n"
        Path(a.out).write_text(head + body)
        print(f"{a.out}: {len(fns)} functions run, {len(pats)} patterns, {len(matched)} functions "
              f"({size // 1024} KiB) matched")
        return 0
    finally:
        procstat.stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
