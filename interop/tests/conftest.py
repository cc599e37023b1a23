"""pytest fixtures over the lab library, and the scenario × router matrix.

Fixtures: `lab` (the topology, closed whatever happens), `router_kind` (parametrized over
lab.drivers.ROUTER_NAMES, the seven router versions: bird, bird2.17, bird3.1, frr, frr10,
gobgp, gobgp3.36, the bare names being Debian 12's; every scenario that takes it runs against
each), `router` (that router in rtr, configured from the test's `router_config` marker, started), `checks` (soft
checks, verified by the test at its end). Labs need root: without it every lab test is
skipped with that reason. At the end the matrix (rows scenarios, columns routers, cells
pass/FAIL/skip) is printed and written to $LAB_REPORT (default target/lab-matrix.md).

Parallel runs (pytest-xdist, `-n 2`, as tests/all.sh does): every lab names its namespaces,
run dir and lock after its own process (see lab.topology), so two workers never share one;
the longest scenarios are collected first so that the workers end at about the same time;
the matrix is built and written by the controlling process only (from the workers' reports).
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import deps, roots  # noqa: E402
from lab.checks import Checks  # noqa: E402
from lab.drivers import ROUTER_NAMES, ROUTERS, Router, kind_of, make_router, router_config  # noqa: E402
from lab.topology import Lab, install_exit_cleanup  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
_RESULTS: dict[str, dict[str, str]] = defaultdict(dict)
_REASONS: dict[tuple[str, str], str] = {}


def pytest_configure(config: pytest.Config) -> None:
    install_exit_cleanup()
    config.addinivalue_line("markers", "router_config(**kw): arguments of lab.drivers.router_config")
    config.addinivalue_line("markers", "only_routers(*names, reason, exact=False): run against these routers only "
                                       "(a kind, bird/frr/gobgp, stands for all its versions unless exact)")


# The scenarios that take 25-70 s each (the rest take 1-20 s): started first, so that with two
# workers no long one is left to run alone at the end. They are also the ones that run against
# one version per daemon, Debian 12's (bird, frr, gobgp), unless LAB_MATRIX=full: against all
# seven they would add ~9 min to CI's 20 (measured: 520 s of the 1047 s the four Debian 13
# columns take one lab at a time).
LONG_FIRST = ("test_chaos_short.py", "test_flap_short.py", "test_restart.py")
ONE_VERSION = {r.name for r in ROUTERS if r.root is None}


def skip_reason(node, name: str) -> str | None:
    """Why the scenario `node` does not run against the router `name` (None: it does)."""
    only = node.get_closest_marker("only_routers")
    if only and name not in only.args and (only.kwargs.get("exact") or kind_of(name) not in only.args):
        return only.kwargs["reason"]
    if node.path.name in LONG_FIRST and name not in ONE_VERSION and os.environ.get("LAB_MATRIX") != "full":
        return "a slow scenario: in CI against one version per daemon, Debian 12's (LAB_MATRIX=full runs all)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: same order on every worker
    for item in items:  # skipped at collection: no lab is built for a cell that does not run
        name = getattr(item, "callspec", None) and item.callspec.params.get("router_kind")
        if name and (reason := skip_reason(item, name)):
            item.add_marker(pytest.mark.skip(reason=reason))
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="labs need root (network namespaces)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def packages() -> None:
    """The daemons the labs run, installed with apt-get if one is missing, and the Debian 13
    roots built if missing (root only). With several workers each asks; locks make the others
    wait for the first one's apt-get or debootstrap."""
    if os.geteuid() == 0:
        with open("/run/lock/anycastd-lab-deps.lock" if os.path.isdir("/run/lock") else "/tmp/anycastd-lab-deps.lock",
                  "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            deps.install()
        for name in sorted({r.root for r in ROUTERS if r.root}):
            roots.ensure(name)


@pytest.fixture
def lab() -> Lab:
    lab = Lab()
    try:
        yield lab.up()
    finally:
        lab.close()


@pytest.fixture(params=ROUTER_NAMES)
def router_kind(request: pytest.FixtureRequest) -> str:
    """The router (a name of ROUTER_NAMES; `kind_of` gives its daemon); a test marked
    `only_routers(*names, reason=...)` is skipped for the others before its lab is built (the
    reason shows in the matrix)."""
    reason = skip_reason(request.node, request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture
def router(request: pytest.FixtureRequest, router_kind: str, lab: Lab) -> Router:
    marker = request.node.get_closest_marker("router_config")
    r = make_router(router_kind, lab, router_config(**(marker.kwargs if marker else {})))
    r.start()
    return r


@pytest.fixture
def checks(request: pytest.FixtureRequest) -> Checks:
    c = Checks()
    yield c
    request.node.user_properties.append(("not_applicable", sum(r.status == "N/A" for r in c.results)))


# ---- the matrix ----------------------------------------------------------------------------
def _cell(item_id: str) -> tuple[str, str]:
    path, _, rest = item_id.partition("::")
    scenario = Path(path).stem.removeprefix("test_").replace("_", "-")
    func, _, params = rest.partition("[")
    if func.removeprefix("test_").replace("_", "-") != scenario:
        scenario += "/" + func.removeprefix("test_").replace("_", "-")
    kind = next((k for k in ROUTER_NAMES if k in params.rstrip("]").split("-")), "-")
    return scenario, kind


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    scenario, kind = _cell(report.nodeid)
    cells = _RESULTS[scenario]
    if report.skipped:
        cells[kind] = "skip"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _REASONS[(scenario, kind)] = reason.removeprefix("Skipped: ")
    elif report.failed:
        cells[kind] = "FAIL"
    elif report.when == "call" and kind not in cells:
        cells[kind] = "pass"
    elif report.when == "teardown" and cells.get(kind) == "pass":
        na = dict(report.user_properties).get("not_applicable", 0)
        cells[kind] = f"pass ({na} N/A)" if na else "pass"


def matrix() -> str:
    cols = [*ROUTER_NAMES] + (["-"] if any("-" in c for c in _RESULTS.values()) else [])
    column = {r.name: r.column for r in ROUTERS}
    head = [("no router parameter" if c == "-" else column[c]) for c in cols]
    lines = ["| scenario | " + " | ".join(head) + " |", "|---" * (len(cols) + 1) + "|"]
    for scenario in sorted(_RESULTS):
        cells = _RESULTS[scenario]
        lines.append(f"| {scenario} | " + " | ".join(cells.get(c, "—") for c in cols) + " |")
    notes = [f"- {s} × {k}: skip — {r}" for (s, k), r in sorted(_REASONS.items())]
    notes += ["- N/A: checks that do not apply to that router, each with its reason in the scenario's output "
              "(GoBGP: no FIB, so no FIB or ping checks, and no ROUTE-REFRESH on soft reset; FRR and GoBGP: "
              "their logs do not say that the peer closed a connection attempt)"]
    return "\n".join(lines + ([""] + notes if notes else []))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _RESULTS:  # an xdist worker: the controller reports
        return
    text = matrix()
    terminalreporter.section("scenario × router matrix")
    terminalreporter.write_line(text)
    out = Path(os.environ.get("LAB_REPORT") or REPO / "target" / "lab-matrix.md")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("# interop lab: scenario × router\n\n" + text + "\n")
        terminalreporter.write_line(f"(written to {out})")
    except OSError as e:
        terminalreporter.write_line(f"(could not write {out}: {e})")
