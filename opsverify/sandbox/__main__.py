"""``python -m opsverify.sandbox up|down|status|inject NAME|revert NAME|faults``.

Expected failures (a package missing, a port taken, an unknown fault) print one line and exit
1; only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .base import SandboxError
from .manager import (
    SKIP_ENV,
    STATE_DIR_ENV,
    default_state_dir,
    down,
    faults,
    inject,
    revert,
    status,
    up,
)
from .profiles import PROFILES


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,  # so a subcommand's copy does not erase one given before it
        help=f"sandbox state directory (default: ${STATE_DIR_ENV} or /tmp/opsverify-sandbox)",
    )
    p = argparse.ArgumentParser(
        prog="python -m opsverify.sandbox",
        description="Start a real environment on loopback and inject named faults into it.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", parents=[common], help="start every component, write the inventory")
    p_up.add_argument(
        "--inventory-out",
        type=Path,
        default=None,
        help="where to write the inventory (default: environments/sandbox.yml)",
    )
    p_up.add_argument(
        "--skip",
        default="",
        help=f"comma-separated components to leave out (also ${SKIP_ENV}), e.g. docker,host",
    )
    p_up.add_argument(
        "--profile",
        default=None,
        choices=sorted(PROFILES),
        help="shape the sandbox like a reference system (its endpoints, backups, thresholds; "
        "see environments/example-<profile>.yml); default: the generic sandbox",
    )
    sub.add_parser("down", parents=[common], help="stop everything, from the state alone")
    p_status = sub.add_parser("status", parents=[common], help="what runs, ports, faults")
    p_status.add_argument("--json", action="store_true", help="print the status as JSON")
    for name in ("inject", "revert"):
        sp = sub.add_parser(name, parents=[common], help=f"{name} a named fault")
        sp.add_argument("name")
    sub.add_parser("faults", parents=[common], help="list the known faults")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state_dir: Path = (getattr(args, "state_dir", None) or default_state_dir()).resolve()
    t0 = time.monotonic()
    try:
        if args.command == "up":
            sb = up(state_dir, args.inventory_out, skip=args.skip.split(","),
                    profile=args.profile)
            inv = sb.state.get("inventory_path")
            if sb.state.get("already_running"):
                print(f"sandbox already running in {state_dir}; inventory: {inv}")
            else:
                print(
                    f"sandbox up in {time.monotonic() - t0:.1f}s "
                    f"({', '.join(sb.state.get('components', []))}); inventory: {inv}"
                )
        elif args.command == "down":
            if not (state_dir / "state.json").exists():
                print(f"no sandbox state in {state_dir}: nothing to stop")
                return 0
            problems = down(state_dir)
            for problem in problems:
                print(f"warning: {problem}", file=sys.stderr)
            print(f"sandbox down in {time.monotonic() - t0:.1f}s ({state_dir})")
        elif args.command == "status":
            st = status(state_dir)
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                print(f"{st['status']}: {st['state_dir']}")
                for key in ("started_at", "inventory", "components", "ports", "faults"):
                    if st.get(key):
                        print(f"  {key}: {st[key]}")
                for owner, pids in st.get("processes", {}).items():
                    alive = ", ".join(f"{pid}{'' if ok else ' (gone)'}" for pid, ok in pids.items())
                    print(f"  {owner}: {alive}")
            return 0 if st["status"] in ("running", "absent", "stopped") else 1
        elif args.command == "inject":
            inject(state_dir, args.name)
            print(f"injected {args.name} in {time.monotonic() - t0:.1f}s")
        elif args.command == "revert":
            revert(state_dir, args.name)
            print(f"reverted {args.name} in {time.monotonic() - t0:.1f}s")
        elif args.command == "faults":
            for name, fault in sorted(faults().items()):
                print(f"{name:32} {fault.area:12} {fault.description}")
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
