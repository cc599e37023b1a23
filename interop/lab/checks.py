"""Soft checks: a scenario records many named checks (PASS/FAIL lines with their measured
values, as the shell labs printed them) and fails once at the end, listing every failed
check with its evidence, so a failing lab run still shows everything it measured.

A check that does not apply to a daemon is recorded as N/A with the reason (never as PASS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .topology import log


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, N/A
    evidence: str


@dataclass
class Checks:
    results: list[Result] = field(default_factory=list)

    def check(self, name: str, ok: object, evidence: object = "") -> bool:
        """Record `name` as PASS if `ok` is truthy; `evidence` is shown either way."""
        status = "PASS" if ok else "FAIL"
        ev = str(evidence)
        self.results.append(Result(name, status, ev))
        log(f"{status}: {name}" + (f" — {ev}" if ev else ""))
        return bool(ok)

    def equal(self, name: str, got: object, want: object) -> bool:
        return self.check(name, got == want, f"got {got!r}" + ("" if got == want else f", want {want!r}"))

    def not_applicable(self, name: str, reason: str) -> None:
        self.results.append(Result(name, "N/A", reason))
        log(f"N/A: {name} — {reason}")

    def note(self, text: str) -> None:
        """A measured value worth printing that is not itself a check."""
        log(f"  {text}")

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == "FAIL"]

    def summary(self) -> str:
        n = {s: sum(r.status == s for r in self.results) for s in ("PASS", "FAIL", "N/A")}
        return f"{n['PASS']} passed, {n['FAIL']} failed, {n['N/A']} not applicable"

    def verify(self) -> None:
        """Fail (AssertionError) if any check failed, listing each with its evidence."""
        log(self.summary())
        if self.failed:
            lines = "\n".join(f"  FAIL: {r.name} — {r.evidence}" for r in self.failed)
            raise AssertionError(f"{len(self.failed)} of {len(self.results)} checks failed:\n{lines}")
        if not any(r.status == "PASS" for r in self.results):
            raise AssertionError("no check passed")
