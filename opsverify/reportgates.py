"""pytest hooks of the reporting and gating layer (registered by opsverify.plugin).

Kept apart from plugin.py so the core plugin stays readable: waivers (``--waivers``), deploy
baselines (``--save-baseline`` / ``--baseline``), the deployed-version gate
(``--expect-version``), evidence bundles (``--bundle``) and metrics (``--metrics-file`` /
``--pushgateway``). Every gate finding is an ordinary *failed* result (Allure, junit, terminal,
exit status) with no severity, so it blocks whatever ``--gate`` says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import allure
import pytest

from opsverify import baseline as baseline_mod
from opsverify import bundle as bundle_mod
from opsverify import catalog, evidence, redact
from opsverify import metrics as metrics_mod
from opsverify.errors import InventoryError, ProbeError
from opsverify.waivers import ANY_TARGET, WaiverFile, load_waivers

WAIVERS_KEY = pytest.StashKey[WaiverFile | None]()
BASELINE_KEY = pytest.StashKey[dict[str, Any] | None]()
EXTRAS: dict[str, dict[str, Any]] = {}  # nodeid -> {area, waiver, measurements}
GATE_EPIC = "deploy gate"
WAIVED_CATEGORY = {
    "name": "Waived findings",
    "description": "Known, accepted findings: reason, owner, ticket and expiry in the message.",
    "matchedStatuses": ["skipped"],
    "messageRegex": r"(?s).*WAIVED until.*",
}


# ------------------------------------------------------------------------------------ options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opsverify", "opsverify: operational verification")
    group.addoption("--waivers", dest="opsverify_waivers", metavar="FILE", default=None,
                    help="waivers file (default: <inventory stem>.waivers.yml beside the "
                         "inventory, if present)")
    group.addoption("--no-waivers", dest="opsverify_no_waivers", action="store_true",
                    help="ignore the default waivers file")
    group.addoption("--save-baseline", dest="opsverify_save_baseline", metavar="FILE",
                    default=None, help="write the results and key measurements of this run "
                                       "as a deploy baseline (use with -m predeploy)")
    group.addoption("--baseline", dest="opsverify_baseline", metavar="FILE", default=None,
                    help="fail on checks that newly fail and on latency regressions against "
                         "this baseline (use with -m postdeploy)")
    group.addoption("--expect-version", dest="opsverify_expect_version", metavar="V",
                    default=None, help="fail unless every http item flagged 'version: true' "
                                       "reports version V (JSON key 'version')")
    group.addoption("--bundle", dest="opsverify_bundle", action="store_true",
                    help="write an evidence bundle to reports/<env>/<timestamp>/ (manifest, "
                         "signature with $OPSVERIFY_SIGNING_KEY)")
    group.addoption("--bundle-dir", dest="opsverify_bundle_dir", metavar="DIR", default=None,
                    help="base folder of evidence bundles (default: reports)")
    group.addoption("--metrics-file", dest="opsverify_metrics_file", metavar="PATH",
                    default=None, help="write results as Prometheus metrics (textfile "
                                       "collector format, atomic)")
    group.addoption("--pushgateway", dest="opsverify_pushgateway", metavar="URL", default=None,
                    help="push the metrics to this Prometheus Pushgateway")


def _inventory(config: pytest.Config) -> Any:
    from opsverify.plugin import get_inventory

    return get_inventory(config)


def default_waivers_path(inventory_source: str) -> Path | None:
    """``environments/prod.yml`` -> ``environments/prod.waivers.yml`` if it exists."""
    if inventory_source.startswith("<"):
        return None
    src = Path(inventory_source)
    candidate = src.with_name(f"{src.stem}.waivers.yml")
    return candidate if candidate.exists() else None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    inv = _inventory(config)
    config.stash[WAIVERS_KEY] = None
    config.stash[BASELINE_KEY] = None
    if inv is None:
        return
    path = config.getoption("opsverify_waivers")
    if path is None and not config.getoption("opsverify_no_waivers"):
        found = default_waivers_path(inv.source)
        path = str(found) if found else None
    try:
        if path:
            config.stash[WAIVERS_KEY] = load_waivers(path, inv.environment)
        if config.getoption("opsverify_baseline"):
            config.stash[BASELINE_KEY] = baseline_mod.load(
                Path(config.getoption("opsverify_baseline")), inv.environment)
    except InventoryError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    wf = config.stash.get(WAIVERS_KEY, None)
    if wf is not None:
        lines.append(f"opsverify waivers: {len(wf.waivers)} from {wf.source}")
    base = config.stash.get(BASELINE_KEY, None)
    if base is not None:
        lines.append(f"opsverify baseline: {config.getoption('opsverify_baseline')} "
                     f"(taken {base.get('created')})")
    return lines


# --------------------------------------------------------------------- synthetic gate items
class GateItem(pytest.Item):
    """A result that is not a catalog check: a waiver problem or the deployed version."""

    def __init__(self, *, problem: str | None = None, version: Any = None,
                 expect: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem
        self.version_item = version
        self.expect = expect
        self.user_properties.append(("opsverify_gate", self.name))

    def runtest(self) -> None:
        if self.problem is not None:
            raise AssertionError(self.problem)
        if self.expect is not None:
            self._check_version()

    def _check_version(self) -> None:
        from opsverify.probes import http as http_probe

        inv = _inventory(self.config)
        item = self.version_item
        if item is None:
            raise AssertionError(
                f"--expect-version {self.expect}: no http item is flagged 'version: true' in "
                f"inventory {inv.environment}: nothing to compare the deployed version with")
        ca = str(inv.resolve_path(item.ca_file)) if item.ca_file else None
        with http_probe.new_session() as session:
            obs = http_probe.fetch(session, item.url, target=item.name,
                                   timeout_s=inv.threshold("timeout_s", item), ca_file=ca,
                                   resolve=item.resolve)
        evidence.attach("response", obs.summary())
        try:
            reported = json.loads(obs.text()).get("version")
        except (ValueError, AttributeError):
            raise ProbeError(item.name, f"{item.url} answered {obs.status} without a JSON "
                                        "object, cannot read 'version'") from None
        assert str(reported) == self.expect, (
            f"{item.name}: {item.url} reports version {reported!r}, the deploy expected "
            f"{self.expect!r}: the new release is not (or not everywhere) live")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The finding itself, not a traceback through opsverify's internals."""
        if isinstance(excinfo.value, AssertionError | ProbeError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


def _known_targets(config: pytest.Config) -> dict[str, set[str] | None]:
    """check id -> its target ids in this inventory (None: one result per environment)."""
    from opsverify.plugin import TARGETS_KEY

    table = config.stash.get(TARGETS_KEY, {})
    out: dict[str, set[str] | None] = {}
    for cid, meta in catalog.registry().items():
        if meta.targets is None:
            out[cid] = None
        else:
            out[cid] = set(table.get(cid, {}))
    return out


def waiver_problems(wf: WaiverFile, known: dict[str, set[str] | None], strict_ids: bool,
                    today: dt.date | None = None) -> list[tuple[str, str]]:
    """(name, message) for every expired waiver and every waiver that matches nothing."""
    out: list[tuple[str, str]] = []
    for w in wf.waivers:
        who = f"owner {w.owner}, ticket {w.ticket}"
        if w.expired(today):
            out.append((f"waiver-expired[{w.key}]",
                        f"waiver for {w.check} on {w.target} ({who}) expired on "
                        f"{w.expires.isoformat()}: the finding fails again until it is fixed "
                        "or the waiver is renewed with a new reviewed expiry"))
            continue
        if w.check not in known:
            if strict_ids:
                out.append((f"waiver-unmatched[{w.key}]",
                            f"waiver for {w.check} ({who}) matches no check in the catalog: "
                            "remove it or correct the check id"))
            continue
        targets = known[w.check]
        if w.target == ANY_TARGET:
            continue
        if targets is None or w.target not in targets:
            shown = ", ".join(sorted(targets)) if targets else "none in this inventory"
            out.append((f"waiver-unmatched[{w.key}]",
                        f"waiver for {w.check} on target '{w.target}' ({who}) matches no "
                        f"target of {w.check} (targets: {shown}): remove it or correct the "
                        "target"))
    return out


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    inv = _inventory(config)
    for item in items:
        meta = getattr(getattr(item, "function", None), "opsverify_check", None)
        if meta is not None:
            item.user_properties.append(("area", meta.area))
            item.user_properties.append(("check_file", str(item.path)))
    if inv is None or config.getoption("opsverify_catalog"):
        return
    extra: list[pytest.Item] = []
    wf = config.stash.get(WAIVERS_KEY, None)
    if wf is not None:
        strict = config.args_source == pytest.Config.ArgsSource.TESTPATHS
        for name, message in waiver_problems(wf, _known_targets(config), strict):
            extra.append(GateItem.from_parent(session, name=name, path=Path(wf.source),
                                              nodeid=f"waivers::{name}", problem=message))
    expect = config.getoption("opsverify_expect_version")
    if expect:
        flagged = [h for h in inv.http if h.version]
        if not flagged:
            extra.append(GateItem.from_parent(session, name="deploy-version[none]",
                                              path=Path(inv.source),
                                              nodeid="deploy::deploy-version[none]",
                                              expect=expect))
        for h in flagged:
            name = f"deploy-version[{h.name}]"
            extra.append(GateItem.from_parent(session, name=name, path=Path(inv.source),
                                              nodeid=f"deploy::{name}", version=h,
                                              expect=expect))
    for item in extra:
        epic = "waivers" if item.name.startswith("waiver-") else GATE_EPIC
        item.add_marker(pytest.mark.allure_label(epic, label_type="epic"))
        item.add_marker(pytest.mark.allure_label("blocker", label_type="severity"))
    items.extend(extra)


# ------------------------------------------------------------------------------------ running
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    evidence._CURRENT.append(item)
    try:
        return (yield)
    finally:
        evidence._CURRENT.remove(item)


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "target" in callspec.params:
        return str(callspec.params["target"])
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A finding covered by a valid waiver becomes a skip that says so (never a broken one)."""
    try:
        return (yield)
    except AssertionError as exc:
        wf = item.config.stash.get(WAIVERS_KEY, None)
        meta = getattr(getattr(item, "function", None), "opsverify_check", None)
        if wf is None or meta is None:
            raise
        waiver = wf.find(meta.id, _target_of(item))
        if waiver is None or waiver.expired():
            raise
        finding = redact.redact_text(str(exc.args[0]) if exc.args else "finding")
        finding = finding.split("\nRemediation (")[0]
        allure.dynamic.tag("waived")
        allure.dynamic.label("waiver_ticket", waiver.ticket)
        item.user_properties.append(("waiver", waiver.label()))
        pytest.skip(f"{waiver.label()} | finding: {finding}")


def pytest_sessionstart(session: pytest.Session) -> None:
    EXTRAS.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = report.user_properties
    rec = EXTRAS.setdefault(report.nodeid, {"measurements": {}})
    for key, value in props:
        if key == "area":
            rec["area"] = value
        elif key == "waiver":
            rec["waiver"] = value
        elif key == "opsverify_gate":
            rec["gate"] = value
        elif key == "check_file":
            rec["file"] = value
        elif isinstance(key, str) and key.startswith(evidence.MEASURE_PREFIX):
            rec["measurements"][key[len(evidence.MEASURE_PREFIX):]] = float(value)


# ------------------------------------------------------------------------------- end of run
def final_records() -> list[dict[str, Any]]:
    """One record per result with waived outcomes, areas, keys and measurements."""
    from opsverify.plugin import _RESULTS, final_results

    out = []
    for r in final_results(_RESULTS):
        extra = EXTRAS.get(r["nodeid"], {})
        rec = dict(r)
        if extra.get("waiver") and r["outcome"] == "skipped":
            rec["outcome"] = "waived"
        rec["area"] = extra.get("area") or _area_of(r["nodeid"])
        rec["key"] = baseline_mod.result_key(r["check_id"], r["target"])
        rec["measurements"] = extra.get("measurements", {})
        rec["gate"] = extra.get("gate")
        out.append(rec)
    return out


def _area_of(nodeid: str) -> str:
    parts = nodeid.split("::")[0].split("/")
    return parts[-2] if len(parts) >= 2 else parts[0] or "-"


def _measurements(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {r["key"]: r["measurements"] for r in records
            if r["check_id"] and r["measurements"]}


def emit_gate_result(config: pytest.Config, name: str, message: str) -> None:
    """A failed result that is not a test item: terminal, junit, gate and Allure see it."""
    nodeid = f"deploy::{name}"
    location = ("deploy", None, name)
    for when, outcome, longrepr in (("setup", "passed", None), ("call", "failed", message),
                                    ("teardown", "passed", None)):
        rep = pytest.TestReport(nodeid=nodeid, location=location, keywords={name: 1},
                                outcome=outcome, longrepr=longrepr, when=when,
                                user_properties=[("opsverify_gate", name)])
        config.hook.pytest_runtest_logreport(report=rep)
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir:
        now = int(time.time() * 1000)
        result = {
            "uuid": str(uuid.uuid4()), "name": name, "fullName": nodeid,
            "historyId": hashlib.md5(nodeid.encode()).hexdigest(),
            "testCaseId": hashlib.md5(nodeid.encode()).hexdigest(),
            "status": "failed", "statusDetails": {"message": redact.redact_text(message)},
            "stage": "finished", "start": now, "stop": now,
            "labels": [{"name": "epic", "value": GATE_EPIC},
                       {"name": "feature", "value": "baseline"},
                       {"name": "severity", "value": "blocker"},
                       {"name": "tag", "value": "postdeploy"}],
        }
        path = Path(allure_dir) / f"{result['uuid']}-result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))


def _compare_baseline(session: pytest.Session) -> None:
    config = session.config
    base = config.stash.get(BASELINE_KEY, None)
    inv = _inventory(config)
    if base is None or inv is None:
        return
    records = [r for r in final_records() if r["check_id"]]
    regressions = baseline_mod.compare(
        base, records, _measurements(records),
        inv.threshold("latency_regression_pct"), _min_delta_ms(inv))
    for reg in regressions:
        emit_gate_result(config, f"baseline-{reg.kind}[{reg.key}]", reg.message)
    if regressions and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _min_delta_ms(inv: Any) -> float:
    try:
        return inv.threshold("latency_regression_min_ms")
    except KeyError:
        return 10.0


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None]:
    config = session.config
    worker = hasattr(config, "workerinput")
    if not worker:
        _compare_baseline(session)
    result = yield
    if worker or _inventory(config) is None:
        return result
    _after_run(session)
    return result


def _after_run(session: pytest.Session) -> None:
    config = session.config
    inv = _inventory(config)
    records = final_records()
    checks = [r for r in records if r["check_id"]]
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir and config.stash.get(WAIVERS_KEY, None) is not None:
        cats_path = Path(allure_dir) / "categories.json"
        cats = json.loads(cats_path.read_text()) if cats_path.exists() else []
        if WAIVED_CATEGORY["name"] not in [c.get("name") for c in cats]:
            cats.insert(0, WAIVED_CATEGORY)
            cats_path.write_text(json.dumps(cats, indent=2) + "\n")
    save = config.getoption("opsverify_save_baseline")
    if save:
        doc = baseline_mod.build(inv.environment, inv.sha256, checks, _measurements(checks))
        baseline_mod.save(Path(save), doc)
        _note(config, f"baseline saved: {save} ({len(doc['results'])} results)")
    text = metrics_mod.render(inv.environment, checks, _measurements(checks))
    mfile = config.getoption("opsverify_metrics_file")
    if mfile:
        metrics_mod.write_textfile(Path(mfile), text)
        _note(config, f"metrics written: {mfile}")
    gateway = config.getoption("opsverify_pushgateway")
    if gateway:
        try:
            status = metrics_mod.push(gateway, inv.environment, text,
                                      timeout_s=inv.threshold("timeout_s"))
            _note(config, f"metrics pushed to {redact.redact_text(gateway)} (HTTP {status})")
        except OSError as exc:
            _note(config, f"metrics push to {redact.redact_text(gateway)} FAILED: {exc}")
    if config.getoption("opsverify_bundle"):
        try:
            where = write_bundle(config, records, text)
            _note(config, f"evidence bundle: {where}")
        except (OSError, bundle_mod.BundleError) as exc:
            _note(config, f"evidence bundle FAILED: {exc}")
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


NOTES_KEY = pytest.StashKey[list[str]]()


def _note(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(NOTES_KEY, []).append(line)


def write_bundle(config: pytest.Config, records: list[dict[str, Any]], metrics_text: str) -> Path:
    from opsverify import report as report_mod

    inv = _inventory(config)
    root = Path(config.rootpath)
    base = Path(config.getoption("opsverify_bundle_dir") or root / "reports")
    d = bundle_mod.bundle_dir(base, inv.environment)
    d.mkdir(parents=True)
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir:
        bundle_mod.copy_into(d, Path(allure_dir), "allure-results")
    xml = getattr(config.option, "xmlpath", None)
    if xml:
        bundle_mod.copy_into(d, Path(xml), "junit.xml")
    (d / "results.json").write_text(json.dumps(redact.redact(records), indent=2) + "\n")
    (d / "metrics.prom").write_text(metrics_text)
    if not inv.source.startswith("<"):
        bundle_mod.write_redacted(d, Path(inv.source), "inventory.yml")
    wf = config.stash.get(WAIVERS_KEY, None)
    if wf is not None:
        bundle_mod.write_redacted(d, Path(wf.source), "waivers.yml")
    if config.getoption("opsverify_baseline"):
        bundle_mod.copy_into(d, Path(config.getoption("opsverify_baseline")), "baseline.json")
    metas = _catalog_of(records, root)
    if metas:
        catalog.export(metas, d / "catalog")
    html_note = "not generated: Allure CLI not installed (make install)"
    tool_root = root if report_mod.find_allure(root) else report_mod.ROOT
    if allure_dir and report_mod.find_allure(tool_root) is not None:
        build = d.parent / f".{d.name}-report-build"
        try:
            # a private history file: the bundle's rendering must not add a second point to
            # the environment's trend (make report does that)
            report_mod.generate(Path(allure_dir), build / "out", root=tool_root,
                                history_dir=build / "history",
                                single_file=d / "allure-report.html")
            html_note = "allure-report.html"
        except report_mod.ReportError as exc:
            html_note = f"not generated: {exc}"
        finally:
            shutil.rmtree(build, ignore_errors=True)
    info = {
        "environment": inv.environment,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inventory": inv.source, "inventory_sha256": inv.sha256,
        "markers": config.getoption("markexpr") or "",
        "gate": config.getoption("opsverify_gate") or "any",
        "html_report": html_note,
        "counts": _counts(records),
    }
    (d / "bundle.json").write_text(json.dumps(redact.redact(info), indent=2) + "\n")
    bundle_mod.seal(d)
    return d


def _counts(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[r["outcome"]] = out.get(r["outcome"], 0) + 1
    return out


def _catalog_of(records: list[dict[str, Any]], rootpath: Path) -> list[catalog.CheckMeta]:
    """Metadata of the checks in this run (the controller under xdist imports none)."""
    reg = catalog.registry()
    ids = {r["check_id"] for r in records if r["check_id"]}
    if ids - set(reg):
        files = {EXTRAS.get(r["nodeid"], {}).get("file") or r["nodeid"].split("::")[0]
                 for r in records if r["check_id"]}
        _import_check_modules(files, rootpath)
        reg = catalog.registry()
    return [reg[i] for i in sorted(ids) if i in reg]


def _import_check_modules(files: set[str], rootpath: Path) -> None:
    """Import check files the way pytest's default (prepend) import mode names them."""
    import importlib
    import sys

    for f in sorted(files):
        path = (rootpath / f).resolve()
        if path.suffix != ".py" or not path.exists():
            continue
        base = path.parent
        parts = [path.stem]
        while (base / "__init__.py").exists():
            parts.insert(0, base.name)
            base = base.parent
        name = ".".join(parts)
        if name in sys.modules:
            continue
        if str(base) not in sys.path:
            sys.path.insert(0, str(base))
        try:
            importlib.import_module(name)
        except Exception:  # the catalog is best effort here; the run already happened
            continue


# ---------------------------------------------------------------------------- terminal summary
def terminal_lines(config: pytest.Config) -> list[str]:
    """Per area and severity: failed, broken, waived; waived results; gate notes."""
    records = final_records()
    bad = [r for r in records if r["outcome"] in ("failed", "broken", "waived")]
    lines: list[str] = []
    if bad:
        table: dict[tuple[str, str], dict[str, int]] = {}
        for r in bad:
            area = "gate" if not r["check_id"] else r["area"]
            row = table.setdefault((area, r["severity"] or "-"), {})
            row[r["outcome"]] = row.get(r["outcome"], 0) + 1
        lines.append(f"{'area':<12} {'severity':<9} {'failed':>6} {'broken':>6} {'waived':>6}")
        rank = {s: i for i, s in enumerate(catalog.SEVERITIES)}
        for (area, sev), row in sorted(table.items(), key=lambda kv: (kv[0][0],
                                                                      rank.get(kv[0][1], 9))):
            lines.append(f"{area:<12} {sev:<9} {row.get('failed', 0):>6} "
                         f"{row.get('broken', 0):>6} {row.get('waived', 0):>6}")
    for r in records:
        if r["outcome"] == "waived":
            label = EXTRAS.get(r["nodeid"], {}).get("waiver", "")
            lines.append(f"  WAIVED  [{r['severity']}] {r['key']}: {label}")
    lines += config.stash.get(NOTES_KEY, [])
    return lines
