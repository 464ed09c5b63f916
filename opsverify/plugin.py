"""The pytest face of opsverify: options, inventory, parametrization, markers, Allure, gates.

Registered through the ``pytest11`` entry point so that ``--env``/``--inventory`` are known
before any conftest loads (``--inventory /elsewhere/prod.yml`` works with a space). Checks
stay thin: everything a report needs is derived here from the ``@check`` metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opsverify import __version__, catalog, redact
from opsverify.catalog import AREAS, SCHEDULES, SEVERITIES, SEVERITY_RANK, CheckMeta
from opsverify.errors import InventoryError, ProbeError
from opsverify.history import History
from opsverify.history import directory_for as history_directory_for
from opsverify.inventory import Inventory, load_inventory

INVENTORY_KEY = pytest.StashKey[Inventory | None]()
TARGETS_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
START_KEY = pytest.StashKey[dt.datetime]()

DEFAULT_ALLURE_DIR = "reports/allure-results"
DEFAULT_JUNIT = "reports/junit.xml"

CATEGORIES = [
    {
        "name": "Target unreachable",
        "description": "The target could not be observed (refused, timed out, auth failure).",
        "matchedStatuses": ["broken"],
        "messageRegex": r"(?s)^opsverify\.errors\.ProbeError.*",
    },
    {
        "name": "Threshold breached",
        "description": "The target was observed and breaches a threshold.",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Check defect",
        "description": "The check itself raised an unexpected error: a bug in opsverify.",
        "matchedStatuses": ["broken"],
    },
]


# ------------------------------------------------------------------------------------ options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opsverify", "opsverify: operational verification")
    group.addoption("--env", dest="opsverify_env", metavar="NAME", default=None,
                    help="environment to verify: loads environments/NAME.yml "
                         "(default: $OPSVERIFY_ENV)")
    group.addoption("--inventory", dest="opsverify_inventory", metavar="PATH", default=None,
                    help="inventory file to verify (overrides --env)")
    group.addoption("--gate", dest="opsverify_gate", metavar="SEVERITY", default=None,
                    choices=SEVERITIES,
                    help="exit non-zero only for failed or broken checks at or above this "
                         "severity (default: any failure)")
    group.addoption("--catalog", dest="opsverify_catalog", metavar="DIR", default=None,
                    help="write the check catalog (catalog.md, catalog.json) to DIR and exit "
                         "without running checks")
    group.addoption("--results-json", dest="opsverify_results_json", metavar="PATH",
                    default=None,
                    help="write one JSON record per check result (id, target, outcome, message)")
    group.addoption("--no-reports", dest="opsverify_no_reports", action="store_true",
                    help="do not write reports/allure-results and reports/junit.xml by default")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Make ``--inventory /elsewhere/prod.yml`` (space-separated) behave like ``--inventory=``.

    pytest locates its rootdir and config file *before* plugins are loaded, so at that point
    the inventory path looks like a test path: the rootdir then becomes /elsewhere and the
    project's config (testpaths, addopts, conftest) is ignored. Now that the option is known,
    redo that step without the inventory path, as pytest would have.
    """
    ns = early_config.known_args_namespace
    if not getattr(ns, "opsverify_inventory", None):
        return
    try:
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, inicfg, *_ = determine_setup(
            inifile=ns.inifilename,
            override_ini=ns.override_ini,
            args=list(ns.file_or_dir),
            rootdir_cmd_arg=ns.rootdir or None,
            invocation_dir=early_config.invocation_params.dir,
        )
    except Exception:  # private API: if it changes, keep pytest's own answer
        return
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    had_ini = early_config.inipath is not None
    early_config._rootpath = rootpath
    early_config._inipath = inipath
    early_config._inicfg = inicfg
    early_config._inicache.clear()
    early_config._parser.extra_info["rootdir"] = str(rootpath)
    early_config._parser.extra_info["inifile"] = str(inipath)
    ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    if not had_ini and inipath is not None:
        args[:] = [*early_config._validate_args(early_config.getini("addopts"),
                                                "via addopts config"), *args]


def _project_root(config: pytest.Config) -> Path:
    return Path(config.rootpath)


def _inventory_path(config: pytest.Config) -> Path | None:
    explicit = config.getoption("opsverify_inventory")
    if explicit:
        return Path(explicit)
    env = config.getoption("opsverify_env") or os.environ.get("OPSVERIFY_ENV")
    if not env:
        return None
    if "/" in env or env.endswith((".yml", ".yaml")):
        raise pytest.UsageError(f"--env takes an environment name, not a path: '{env}' "
                                "(use --inventory PATH for a file)")
    for base in (_project_root(config), Path.cwd()):
        candidate = base / "environments" / f"{env}.yml"
        if candidate.exists():
            return candidate
    return _project_root(config) / "environments" / f"{env}.yml"


def _install_log_redaction() -> None:
    """Every log record's message is redacted before any handler sees it."""
    old = logging.getLogRecordFactory()
    if getattr(old, "_opsverify", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        try:
            record.msg = redact.redact_text(record.getMessage())
            record.args = ()
        except Exception:  # a broken log call must not break the run
            pass
        return record

    factory._opsverify = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, doc in SCHEDULES.items():
        config.addinivalue_line("markers", f"{name}: schedule - {doc}")
    for name, doc in AREAS.items():
        config.addinivalue_line("markers", f"{name}: area - {doc}")
    for sev in SEVERITIES:
        config.addinivalue_line("markers", f"{sev}: severity - checks of severity {sev}")
    config.addinivalue_line("markers", "opsverify: every opsverify check")

    config.stash[START_KEY] = dt.datetime.now(dt.UTC)
    config.stash[TARGETS_KEY] = {}
    _install_log_redaction()

    path = _inventory_path(config)
    inventory: Inventory | None = None
    if path is not None:
        try:
            inventory = load_inventory(path)
        except InventoryError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[INVENTORY_KEY] = inventory

    worker = hasattr(config, "workerinput")
    if worker:
        # xdist workers re-parse the command line; they must never wipe the results
        # directory that the controller prepared and other workers are writing to.
        config.option.clean_alluredir = False
    if inventory is not None and not config.getoption("opsverify_no_reports"):
        root = _project_root(config)
        if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
            config.option.allure_report_dir = str(root / DEFAULT_ALLURE_DIR)
            config.option.clean_alluredir = not worker
        if not getattr(config.option, "xmlpath", None) and not worker:
            config.option.xmlpath = str(root / DEFAULT_JUNIT)


def get_inventory(config: pytest.Config) -> Inventory | None:
    return config.stash.get(INVENTORY_KEY, None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    inv = get_inventory(config)
    if inv is None:
        return ["opsverify: no environment selected (--env NAME or --inventory PATH)"]
    gate = config.getoption("opsverify_gate") or "any failure"
    return [
        f"opsverify {__version__}: environment {inv.environment}, inventory {inv.source} "
        f"(sha256 {inv.sha256[:12]}), gate: {gate}"
    ]


# ------------------------------------------------------------------------------ parametrize
def _targets(inventory: Inventory, meta: CheckMeta) -> list[tuple[str, Any]]:
    spec = meta.targets
    if callable(spec):
        return list(spec(inventory))
    assert isinstance(spec, str)
    value = getattr(inventory, spec, None)
    if value is None:
        return []
    if isinstance(value, list):
        return [(getattr(v, "name", None) or getattr(v, "label", str(i)), v)
                for i, v in enumerate(value)]
    return [(spec, value)]


def _section_of(meta: CheckMeta) -> str:
    if isinstance(meta.targets, str):
        return meta.targets
    return (meta.targets.__doc__ or "targets").strip().split("\n")[0] if meta.targets else ""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    meta: CheckMeta | None = getattr(metafunc.function, "opsverify_check", None)
    if meta is None or meta.targets is None:
        return
    if "target" not in metafunc.fixturenames:
        raise catalog.CatalogError(
            f"check {meta.id} declares targets but its function takes no 'target' argument"
        )
    inv = get_inventory(metafunc.config)
    if inv is None:
        metafunc.parametrize("target", [pytest.param(
            None, id="no-inventory",
            marks=pytest.mark.skip(reason="no environment selected (--env or --inventory)"))],
            indirect=True)
        return
    items = _targets(inv, meta)
    if not items:
        metafunc.parametrize("target", [pytest.param(
            None, id="not-declared",
            marks=pytest.mark.skip(
                reason=f"{_section_of(meta)} not declared in inventory {inv.environment}"))],
            indirect=True)
        return
    table = metafunc.config.stash[TARGETS_KEY].setdefault(meta.id, {})
    ids: list[str] = []
    for ident, obj in items:
        ident = str(ident)
        table[ident] = obj
        ids.append(ident)
    metafunc.parametrize("target", ids, ids=ids, indirect=True)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Any:
    """The inventory item this result is about (parametrized from the check's ``targets``)."""
    meta: CheckMeta | None = getattr(request.function, "opsverify_check", None)
    if meta is None or request.param is None:
        pytest.skip("no target")
    return request.config.stash[TARGETS_KEY][meta.id][request.param]


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    """The environment under verification."""
    inv = get_inventory(pytestconfig)
    if inv is None:
        pytest.skip("no environment selected (--env NAME or --inventory PATH)")
    return inv


@pytest.fixture(scope="session")
def history(pytestconfig: pytest.Config, inventory: Inventory) -> History:
    """Measurements kept between runs of this environment (see :mod:`opsverify.history`)."""
    return History(history_directory_for(inventory, pytestconfig.rootpath))


# ------------------------------------------------------------------------------- collection
def _budget(meta: CheckMeta, inv: Inventory | None) -> float:
    timeout_s = inv.thresholds.timeout_s if inv else 10.0
    if meta.budget_s is not None and inv is not None:
        return float(meta.budget_s(inv))
    return 3 * timeout_s + 10


def _allure_marks(meta: CheckMeta) -> list[pytest.MarkDecorator]:
    marks = [
        pytest.mark.allure_label(meta.area, label_type="epic"),
        pytest.mark.allure_label(meta.concern, label_type="feature"),
        pytest.mark.allure_label(meta.title, label_type="story"),
        pytest.mark.allure_label(meta.severity, label_type="severity"),
        pytest.mark.allure_label(meta.id, label_type="as_id"),
        pytest.mark.allure_label(meta.id, label_type="check_id"),
        *[pytest.mark.allure_label(s, label_type="tag") for s in meta.schedules],
    ]
    for ref in meta.references:
        if ref.startswith(("http://", "https://")):
            marks.append(pytest.mark.allure_link(ref, link_type="link", name=ref))
    refs = "".join(f"\n- {r}" for r in meta.references)
    description = (
        f"**{meta.id}: {meta.title}**\n\n**Why it matters.** {meta.rationale}\n\n"
        f"**Remediation.** {meta.remediation}"
        + (f"\n\n**References.**{refs}" if refs else "")
    )
    marks.append(pytest.mark.allure_description(description))
    return marks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    inv = get_inventory(config)
    checks_found = False
    for item in items:
        meta: CheckMeta | None = getattr(getattr(item, "function", None), "opsverify_check", None)
        if meta is None:
            continue
        checks_found = True
        item.add_marker(pytest.mark.opsverify)
        item.add_marker(getattr(pytest.mark, meta.area))
        item.add_marker(getattr(pytest.mark, meta.severity))
        for schedule in meta.schedules:
            item.add_marker(getattr(pytest.mark, schedule))
        for mark in _allure_marks(meta):
            item.add_marker(mark)
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(_budget(meta, inv)))
        fn = item.function  # type: ignore[attr-defined]
        title = f"{meta.id}: {meta.title}".replace("{", "{{").replace("}", "}}")
        fn.__allure_display_name__ = title + (" [{param_id}]" if meta.targets else "")
        item.user_properties.append(("check_id", meta.id))
        item.user_properties.append(("severity", meta.severity))
    if (checks_found and inv is None and not config.getoption("opsverify_catalog")
            and not config.getoption("collectonly")):
        raise pytest.UsageError(
            "no environment selected: pass --env NAME (environments/NAME.yml), "
            "--inventory PATH, or set OPSVERIFY_ENV"
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    out = session.config.getoption("opsverify_catalog")
    if not out:
        return
    metas = {}
    for item in session.items:
        meta = getattr(getattr(item, "function", None), "opsverify_check", None)
        if meta is not None:
            metas[meta.id] = meta
    for meta in catalog.registry().values():
        if meta.module.startswith("checks."):
            metas.setdefault(meta.id, meta)
    js, md = catalog.export(list(metas.values()), Path(out))
    pytest.exit(f"opsverify: catalog of {len(metas)} checks written to {md} and {js}",
                returncode=0)


# ------------------------------------------------------------------------------------ running
class CheckDefect(Exception):
    """An unexpected error inside a check or probe (shown as broken, category 'Check defect')."""


def _without_rewrite_explanation(msg: str) -> str:
    """A check's message is written for the on-call engineer; pytest's assertion rewriting
    appends ``assert ...`` / ``+ where ...`` lines (object dumps) that only repeat it."""
    lines = msg.split("\n")
    for i, line in enumerate(lines):
        if i and line.startswith("assert "):
            return "\n".join(lines[:i]).rstrip()
    return msg


def _scrub(exc: BaseException, meta: CheckMeta | None) -> BaseException:
    """Redact an exception in place; append the remediation to findings."""
    if isinstance(exc, AssertionError):
        msg = redact.redact_text(str(exc.args[0]) if exc.args else "assertion failed")
        if meta is not None:
            msg = _without_rewrite_explanation(msg)
            msg = f"{msg}\nRemediation ({meta.id}): {meta.remediation}"
        exc.args = (msg,)
        return exc
    if isinstance(exc, ProbeError):
        exc.problem = redact.redact_text(exc.problem)
        exc.args = (f"{redact.redact_text(str(exc.target))}: {exc.problem}",)
        return exc
    if isinstance(exc, pytest.fail.Exception | pytest.skip.Exception):
        exc.msg = redact.redact_text(exc.msg)
        exc.args = (exc.msg,)
        return exc
    if isinstance(exc, Exception):
        text = redact.redact_text(f"{type(exc).__name__}: {exc}")
        new = CheckDefect(text).with_traceback(exc.__traceback__)
        new.__suppress_context__ = True
        return new
    return exc


def _scrubbing_wrapper(item: pytest.Item) -> Any:
    meta = getattr(getattr(item, "function", None), "opsverify_check", None)
    try:
        return (yield)
    except BaseException as exc:
        new = _scrub(exc, meta)
        if new is exc:
            raise
        raise new from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    return (yield from _scrubbing_wrapper(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    return (yield from _scrubbing_wrapper(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    return (yield from _scrubbing_wrapper(item))


def _kind(call: pytest.CallInfo[Any]) -> str:
    if call.excinfo is None:
        return "passed"
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return "skipped"
    if call.excinfo.errisinstance(AssertionError | pytest.fail.Exception):
        return "failed"
    return "broken"


def _redact_longrepr(longrepr: Any) -> Any:
    """Redact a failure's terminal representation in place (or return a redacted copy).

    The exception message is scrubbed before pytest sees it, but pytest's long traceback also
    prints every frame's arguments (``url = 'http://u:pw@h/'``, ``dsn = ...``) and source
    lines: without this, any broken check would echo inline credentials to the terminal.
    """
    if longrepr is None:
        return None
    if isinstance(longrepr, str):
        return redact.redact_text(longrepr)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, reason)
        return (longrepr[0], longrepr[1], redact.redact_text(str(longrepr[2])))
    chain = getattr(longrepr, "chain", None) or [
        (getattr(longrepr, "reprtraceback", None), getattr(longrepr, "reprcrash", None), None)]
    for tb, crash, _ in chain:
        for entry in getattr(tb, "reprentries", None) or []:
            if isinstance(getattr(entry, "lines", None), list):
                entry.lines = [redact.redact_text(line) for line in entry.lines]
            fargs = getattr(entry, "reprfuncargs", None)
            if fargs is not None:
                fargs.args = [(n, redact.redact_text(str(v))) for n, v in fargs.args]
            local = getattr(entry, "reprlocals", None)
            if local is not None:
                local.lines = [redact.redact_text(line) for line in local.lines]
            loc = getattr(entry, "reprfileloc", None)
            if loc is not None:
                loc.message = redact.redact_text(loc.message)
        if crash is not None:
            crash.message = redact.redact_text(crash.message)
    sections = getattr(longrepr, "sections", None)
    if isinstance(sections, list):
        longrepr.sections = [(name, redact.redact_text(body), sep)
                             for name, body, sep in sections]
    return longrepr


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    report.longrepr = _redact_longrepr(report.longrepr)
    report.sections = [(name, redact.redact_text(body)) for name, body in report.sections]
    if getattr(getattr(item, "function", None), "opsverify_check", None) is not None and (
        report.failed
    ):
        report.user_properties.append(("outcome", _kind(call)))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    message = ""
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)[-2000:]
    elif report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2])
    entry = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "check_id": props.get("check_id"),
        "severity": props.get("severity"),
        "kind": props.get("outcome", report.outcome),
        "duration": report.duration,
        "message": redact.redact_text(message),
    }
    _RESULTS.append(entry)


_RESULTS: list[dict[str, Any]] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _RESULTS.clear()


def _write_metadata_at_end(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    inv = get_inventory(config)
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if inv is None or not allure_dir:
        return
    write_run_metadata(Path(allure_dir), inv, config)


def _git_revision(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_run_metadata(directory: Path, inv: Inventory, config: pytest.Config) -> None:
    """environment.properties, executor.json and categories.json for the Allure report."""
    directory.mkdir(parents=True, exist_ok=True)
    start = config.stash.get(START_KEY, dt.datetime.now(dt.UTC))
    props = {
        "environment": inv.environment,
        "description": inv.description or "",
        "inventory": inv.source,
        "inventory.sha256": inv.sha256,
        "opsverify.version": __version__,
        "git.revision": _git_revision(_project_root(config)),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "start": start.isoformat(timespec="seconds"),
        "gate": config.getoption("opsverify_gate") or "any",
        "markers": config.getoption("markexpr") or "",
    }
    lines = [f"{k}={redact.redact_text(str(v)).replace(chr(10), ' ')}" for k, v in props.items()]
    (directory / "environment.properties").write_text("\n".join(lines) + "\n")
    (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    executor = _executor_from_ci()
    if executor:
        (directory / "executor.json").write_text(json.dumps(executor, indent=2) + "\n")


def _executor_from_ci() -> dict[str, Any] | None:
    env = os.environ
    if env.get("GITHUB_ACTIONS"):
        run = f"{env.get('GITHUB_SERVER_URL', '')}/{env.get('GITHUB_REPOSITORY', '')}"
        return {"name": "GitHub Actions", "type": "github",
                "buildName": f"{env.get('GITHUB_WORKFLOW', '')} #{env.get('GITHUB_RUN_NUMBER')}",
                "buildUrl": f"{run}/actions/runs/{env.get('GITHUB_RUN_ID', '')}",
                "buildOrder": env.get("GITHUB_RUN_NUMBER")}
    if env.get("GITLAB_CI"):
        return {"name": "GitLab CI", "type": "gitlab",
                "buildName": f"{env.get('CI_PROJECT_PATH', '')} #{env.get('CI_PIPELINE_ID')}",
                "buildUrl": env.get("CI_PIPELINE_URL"), "buildOrder": env.get("CI_PIPELINE_IID")}
    if env.get("CI"):
        return {"name": env.get("CI_NAME", "CI"), "type": "ci",
                "buildName": env.get("CI_BUILD_NAME", env.get("HOSTNAME", "ci")),
                "buildOrder": env.get("CI_BUILD_NUMBER")}
    return None


def final_results(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per test: the worst phase wins (setup error, call failure, teardown error)."""
    order = {"passed": 0, "skipped": 1, "failed": 2, "broken": 3}
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        kind = e["kind"] if e["outcome"] == "failed" else e["outcome"]
        rec = out.setdefault(e["nodeid"], {
            "nodeid": e["nodeid"], "check_id": e["check_id"], "severity": e["severity"],
            "target": _target_of(e["nodeid"]), "outcome": "passed", "message": "",
            "duration": 0.0})
        rec["duration"] += e["duration"] or 0.0
        if order.get(kind, 0) > order.get(rec["outcome"], 0):
            rec["outcome"] = kind
            rec["message"] = e["message"]
    return list(out.values())


def _target_of(nodeid: str) -> str | None:
    if nodeid.endswith("]") and "[" in nodeid:
        return nodeid[nodeid.index("[") + 1 : -1]
    return None


# --------------------------------------------------------------------------------------- gate
def gate_verdict(entries: list[dict[str, Any]], gate: str | None) -> tuple[bool, list[str]]:
    """(blocking?, the findings that block). Non-check failures always block."""
    failing = [e for e in entries if e["outcome"] == "failed"]
    if gate is None:
        return bool(failing), [e["nodeid"] for e in failing]
    floor = SEVERITY_RANK[gate]
    blocking = [e for e in failing
                if e["severity"] is None or SEVERITY_RANK.get(e["severity"], 99) >= floor]
    return bool(blocking), [e["nodeid"] for e in blocking]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    _write_metadata_at_end(session)
    out = config.getoption("opsverify_results_json")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(final_results(_RESULTS), indent=2) + "\n")
    gate = config.getoption("opsverify_gate")
    if gate is None:
        return
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    blocking, _ = gate_verdict(_RESULTS, gate)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED if blocking else pytest.ExitCode.OK


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    inv = get_inventory(config)
    if inv is None:
        return
    checks = [e for e in _RESULTS if e["check_id"]]
    if not checks:
        return
    by_node: dict[str, str] = {}
    sev: dict[str, str] = {}
    for e in checks:
        prev = by_node.get(e["nodeid"])
        kind = e["kind"] if e["outcome"] != "passed" else "passed"
        if prev in (None, "passed") or kind in ("failed", "broken"):
            by_node[e["nodeid"]] = kind if prev in (None, "passed") else prev
        sev[e["nodeid"]] = e["severity"] or "?"
    counts: dict[str, int] = {}
    for kind in by_node.values():
        counts[kind] = counts.get(kind, 0) + 1
    tr = terminalreporter
    tr.section("opsverify summary", sep="=")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    tr.line(f"environment {inv.environment}: {summary}")
    for kind in ("failed", "broken"):
        for nodeid, k in sorted(by_node.items()):
            if k == kind:
                tr.line(f"  {kind.upper():7} [{sev[nodeid]}] {nodeid}")
    for line in reportgates.terminal_lines(config):  # issue 9: per area/severity, waivers
        tr.line(line)
    gate = config.getoption("opsverify_gate")
    if gate:
        blocking, nodes = gate_verdict(_RESULTS, gate)
        verdict = f"BLOCKED by {len(set(nodes))} result(s)" if blocking else "passed"
        tr.line(f"gate {gate}: {verdict}")
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir:
        tr.line(f"allure results: {allure_dir}")
        tr.line("html report: make report (reports/allure-report/, "
                "reports/opsverify-report-<env>.html)")



# ------------------------------------------------------------------ reports and gates (issue 9)
# Waivers, deploy baselines, --expect-version, evidence bundles and metrics live in
# opsverify.reportgates (options and hooks); registered here so one entry point loads both.
from opsverify import reportgates  # noqa: E402


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.is_registered(reportgates):
        pluginmanager.register(reportgates, "opsverify.reportgates")
