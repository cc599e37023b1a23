"""The chaos suite's report: the table per fault kind, the bounds, RSS/fds, the violations
(markdown) and the raw event log, written to interop/results/chaos-<router>-<seed>.{md,log}."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from .bounds import BOUNDS_DOC, FAULT_KINDS

REPO = Path(__file__).resolve().parents[3]


class Report:
    """Mixin of `Chaos`: its results as text and files."""

    def table(self) -> str:
        rows = ["| fault | target | count | max outage ms (bound) | max path gone ms (bound) | max overlap ms "
                "| max two paths ms | violations |", "|---|---|---|---|---|---|---|---|"]
        keys = sorted({(f.kind, f.target) for f in self.faults}, key=lambda k: (FAULT_KINDS.index(k[0]), k[1]))
        for kind, target in keys:
            fs = [f for f in self.faults if (f.kind, f.target) == (kind, target)]
            gone = [f.path_gone_ms for f in fs if f.path_gone_bound_ms is not None and f.path_gone_ms is not None]
            gb = next((f.path_gone_bound_ms for f in fs if f.path_gone_bound_ms is not None), None)
            rows.append(f"| {kind} | {target} | {len(fs)} | {max(f.outage_ms for f in fs):.1f} ({fs[0].outage_bound_ms:.0f}) "
                        f"| {f'{max(gone):.1f}' if gone else '—'} ({'—' if gb is None else f'{gb:.0f}'}) "
                        f"| {max(f.overlap_ms for f in fs):.0f} | {max(f.two_paths_ms for f in fs):.0f} "
                        f"| {sum(1 for f in fs if f.violations)} |")
        fs = self.faults
        if fs:
            rows.append(f"| **all** | | {len(fs)} | {max(f.outage_ms for f in fs):.1f} | | "
                        f"{max(f.overlap_ms for f in fs):.0f} | {max(f.two_paths_ms for f in fs):.0f} "
                        f"| {self.total_violations()} |")
        return "\n".join(rows)

    def write(self, partial: bool) -> str:
        wall = time.monotonic() - self.t_start
        fs = self.faults
        per = wall / len(fs) if fs else 0
        stopped = getattr(self, "stopped_by", "")
        head = [f"# chaos: {self.a.router}, seed {self.a.seed}" + (" (partial)" if partial else "")
                + (f" (stopped by {stopped} after {len(self.faults)} faults)" if stopped else ""), "",
                f"Command: `sudo ANYCASTD_BIN=… interop/bench-chaos.sh --router {self.a.router} --seed {self.a.seed} "
                f"--faults {self.a.faults}`" + (" --legacy" if self.a.legacy else ""), "",
                f"anycastd: {self.acd['nodea'].version()}; features used: {self.features}; "
                f"{len(fs)} of {self.a.faults} faults in {wall:.0f} s ({per:.2f} s per fault); "
                f"path sampler every {self.a.sample_ms} ms (mean step "
                f"{self._mean_step():.1f} ms); violations: {self.total_violations()}; "
                f"faults with two preferred paths: {sum(1 for f in fs if f.overlap_ms > 0)}; "
                f"split brain suspected seen in status during {sum(f.split_brain_warned for f in fs)} faults", "",
                self.table(), "", BOUNDS_DOC, "", "## RSS (kB) and fds", "",
                "| at | " + " | ".join(k for k in self.procstats[0] if k not in ("at", "t_us")) + " |" if self.procstats else "",
                ]
        if self.procstats:
            keys = [k for k in self.procstats[0] if k not in ("at", "t_us")]
            head.append("|---" * (len(keys) + 1) + "|")
            for row in self.procstats:
                head.append(f"| {row['at']} | " + " | ".join(
                    "—" if row.get(k) is None else f"pid {row[k][0]}: {row[k][1]} kB, {row[k][2]} fds" for k in keys) + " |")
        head += ["", self.flatness(), ""]
        bad = [f for f in fs if f.violations]
        head += ["", "## Violations", ""] + ([f"- fault {f.n} {f.kind} {f.target} {f.node} (master before "
                                             f"{f.master_before}, after {f.master_after}): {'; '.join(f.violations)}"
                                             for f in bad] or ["none"])
        text = "\n".join(head) + "\n"
        out = Path(self.a.out or REPO / "interop" / "results")
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"chaos-{self.a.router}-{self.a.seed}"
        stem.with_suffix(".md").write_text(text)
        with open(stem.with_suffix(".log"), "w") as fh:
            for us, ev in self.events:
                fh.write(f"{us} {ev}\n")
            for f in fs:
                fh.write("fault " + json.dumps(asdict(f)) + "\n")
            for n in self.ka:
                for us, st in self.ka_timeline(n):
                    fh.write(f"{us} keepalived {n} {st}\n")
            for us, hops in self.fib.timeline:
                fh.write(f"{us} fib {','.join(hops) or '-'}\n")
        return text

    def flatness(self) -> str:
        """Per daemon: RSS and fd ranges over the samples, and the change over the longest-lived
        PID's samples (a restarted daemon starts afresh: only one PID's own samples compare)."""
        out = []
        for key in (k for k in (self.procstats[0] if self.procstats else {}) if k not in ("at", "t_us")):
            vals = [row[key] for row in self.procstats if row.get(key)]
            if not vals:
                continue
            by_pid: dict[str, list] = {}
            for v in vals:
                by_pid.setdefault(str(v[0]), []).append(v)
            longest = max(by_pid.values(), key=len)
            out.append(f"- {key}: RSS {min(v[1] for v in vals)}–{max(v[1] for v in vals)} kB, fds "
                       f"{min(v[2] for v in vals)}–{max(v[2] for v in vals)} over {len(vals)} samples; "
                       f"longest-lived pid {longest[0][0]} ({len(longest)} samples): RSS {longest[0][1]} → "
                       f"{longest[-1][1]} kB, fds {longest[0][2]} → {longest[-1][2]}")
        return "\n".join(out)

    def _mean_step(self) -> float:
        s = self.sampler.samples
        return (s[-1].t_us - s[0].t_us) / (len(s) - 1) / 1000 if len(s) > 1 else 0.0
