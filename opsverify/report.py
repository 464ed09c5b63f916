"""The HTML report: Allure 3 (pinned in package.json) over reports/allure-results.

``python -m opsverify.report`` (what ``make report`` runs) writes

- ``reports/allure-report/awesome/`` - the interactive report (serve it over HTTP),
- ``reports/allure-report/auditor/index.html`` and a copy at
  ``reports/opsverify-report-<env>.html`` - the same report as one self-contained file that
  opens from disk, for auditors,
- ``reports/allure-report/awesome/summary.json`` - totals and status CI can read,

and appends the run to ``reports/history/<env>.jsonl``. That file is Allure 3's history
mechanism (``historyPath`` in allurerc.mjs): it replaces Allure 2's "copy history/ into the
results"; one file per environment, so production's trends never mix with staging's. Keep
it between runs (a CI cache, or the host of a scheduled run) to get trends.

Allure 3 embeds a Google Analytics tag in every page; an audit report must not phone home,
so every external ``<script src>`` and the inline ``gtag`` snippet are removed, and the
result is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATE_TIMEOUT_S = 180
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*",
                              re.I)
_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(?P<body>(?:(?!</script>).)*)</script>\s*",
                            re.I | re.S)
_PHONE_HOME = ("googletagmanager", "google-analytics", "gtag(")


class ReportError(RuntimeError):
    """The report could not be generated (missing tool, generator failure)."""


@dataclass
class Report:
    out_dir: Path
    interactive: Path
    single_file: Path
    summary: dict[str, Any] = field(default_factory=dict)
    environment: str = "unknown"
    history: Path | None = None


def find_allure(root: Path = ROOT) -> Path | None:
    """The pinned Allure CLI (npm ci puts it in node_modules/.bin)."""
    exe = root / "node_modules" / ".bin" / "allure"
    return exe if exe.exists() else None


def read_properties(results: Path) -> dict[str, str]:
    """environment.properties written by the plugin (key=value lines)."""
    props: dict[str, str] = {}
    path = results / "environment.properties"
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                props[key.strip()] = value.strip()
    return props


def safe_name(text: str) -> str:
    """An environment name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "unknown"


def strip_analytics(html: str) -> str:
    """Remove external scripts and inline analytics snippets; the report works without."""
    html = _EXTERNAL_SCRIPT.sub("", html)

    def inline(m: re.Match[str]) -> str:
        body = m.group("body")
        return "" if any(p in body for p in _PHONE_HOME) and len(body) < 20000 else m.group(0)

    return _INLINE_SCRIPT.sub(inline, html)


def phones_home(html: str) -> bool:
    """True if a page still references analytics or loads a script from the network."""
    return bool(_EXTERNAL_SCRIPT.search(html)) or "googletagmanager" in html


def strip_tree(directory: Path) -> list[Path]:
    """Strip every HTML page under ``directory``; return the pages changed."""
    changed = []
    for page in directory.rglob("*.html"):
        text = page.read_text(errors="surrogateescape")
        clean = strip_analytics(text)
        if clean != text:
            page.write_text(clean, errors="surrogateescape")
            changed.append(page)
        if phones_home(clean):
            raise ReportError(f"{page}: still references an external script after stripping")
    return changed


def generate(results: Path, out: Path, *, root: Path = ROOT, history_dir: Path | None = None,
             single_file: Path | None = None, name: str | None = None) -> Report:
    """Generate the report (interactive + single file) and carry the environment's history."""
    results, out = results.resolve(), out.resolve()
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}: run the checks first "
                          "(pytest -m daily --env NAME)")
    allure = find_allure(root)
    if allure is None:
        raise ReportError("Allure CLI not installed: run `make install` (npm ci installs the "
                          "version pinned in package.json)")
    props = read_properties(results)
    env = props.get("environment", "unknown")
    history_dir = (history_dir or out.parent / "history").resolve()
    history = history_dir / f"{safe_name(env)}.jsonl"
    history_dir.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    run_env = dict(os.environ)
    run_env.update({
        "OPSVERIFY_REPORT_ENV": env,
        "OPSVERIFY_REPORT_NAME": name or f"opsverify: {env}",
        "OPSVERIFY_REPORT_OUT": str(out),
        "OPSVERIFY_REPORT_HISTORY": str(history),
        "OPSVERIFY_REPORT_RESULTS": str(results),
        "NO_COLOR": "1",
    })
    cmd = [str(allure), "generate", str(results), "-o", str(out),
           "--config", str(root / "allurerc.mjs")]
    try:
        proc = subprocess.run(cmd, cwd=root, env=run_env, capture_output=True, text=True,
                              timeout=GENERATE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ReportError(f"allure generate took longer than {GENERATE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ReportError(f"allure generate failed ({proc.returncode}): " + " | ".join(tail))
    strip_tree(out)
    interactive = out / "awesome" / "index.html"
    single_src = out / "auditor" / "index.html"
    if not interactive.exists() or not single_src.exists():
        raise ReportError(f"allure generate wrote no report into {out}")
    single = single_file or out.parent / f"opsverify-report-{safe_name(env)}.html"
    single.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(single_src, single)
    summary: dict[str, Any] = {}
    summary_path = out / "awesome" / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
    return Report(out_dir=out, interactive=interactive, single_file=single, summary=summary,
                  environment=env, history=history)


def browser_check(page: Path | str, screenshot: Path, expected: str, *, root: Path = ROOT,
                  timeout_s: float = 25.0, click: str | None = None) -> dict[str, Any]:
    """Open the report in headless Chromium, wait for ``expected`` text, screenshot it, then
    optionally click the element showing ``click`` (a tab) and read the page again.

    Returns ``{found, text, clicked_text, external_requests, elapsed_ms}``."""
    url = page if isinstance(page, str) else page.resolve().as_uri()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    script = root / "scripts" / "report-browser-check.mjs"
    cmd = ["node", str(script), url, str(screenshot), expected, str(int(timeout_s * 1000))]
    try:
        env = dict(os.environ, OPSVERIFY_REPORT_CLICK=click or "")
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env,
                              timeout=timeout_s + 20, check=False)
    except subprocess.TimeoutExpired:
        raise ReportError(f"the browser check took longer than {timeout_s + 20:.0f} s") from None
    if proc.returncode != 0:
        raise ReportError(f"the browser check failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def totals_line(summary: dict[str, Any]) -> str:
    stats = summary.get("stats", {})
    order = ("total", "passed", "failed", "broken", "skipped", "unknown")
    return ", ".join(f"{stats[k]} {k}" for k in order if k in stats)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opsverify.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "reports" / "allure-results")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "allure-report")
    ap.add_argument("--history-dir", type=Path, default=None,
                    help="where <env>.jsonl history files live (default: reports/history)")
    ap.add_argument("--single-file", type=Path, default=None,
                    help="copy of the single-file report (default: "
                         "reports/opsverify-report-<env>.html)")
    ap.add_argument("--screenshot", type=Path, default=None,
                    help="also open the single file in headless Chromium and save a screenshot")
    args = ap.parse_args(argv)
    try:
        rep = generate(args.results, args.out, history_dir=args.history_dir,
                       single_file=args.single_file)
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    print(f"report: environment {rep.environment}: {totals_line(rep.summary)}")
    print(f"report: interactive {rep.interactive} (serve: python -m http.server -d "
          f"{rep.interactive.parent} --bind 127.0.0.1)")
    print(f"report: single file for auditors {rep.single_file}")
    print(f"report: history {rep.history}")
    if args.screenshot:
        seen = browser_check(rep.single_file, args.screenshot, rep.environment)
        print(f"report: screenshot {args.screenshot} ({'ok' if seen['found'] else 'NOT RENDERED'})")
        if not seen["found"] or seen["external_requests"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
