"""The restore drill against the session sandbox's real PostgreSQL and real dumps.

What the fault matrix cannot show cheaply: the scratch database is dropped even when the drill
is interrupted, a name collision is refused without dropping anything, stale scratch databases
are cleaned (only marked ones), a role without CREATEDB gets a clear message, and
``pg_restore --list`` alone would have passed a truncated custom dump.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from opsverify.errors import ProbeError
from opsverify.probes import backups as bp
from opsverify.probes import restore as rp
from opsverify.sandbox import backups as sbk
from opsverify.sandbox import postgres as spg

MIN_ROWS = {"users": 1, "studies": 1}


def _dbs(sandbox: Any) -> set[str]:
    return set(spg.psql(sandbox, "SELECT datname FROM pg_database").split())


def _drill(sandbox: Any, path: Path, fmt: str, **kw: Any) -> rp.RestoreObservation:
    args: dict[str, Any] = {"target": "t", "server": "main", "min_rows": MIN_ROWS, "jobs": 2,
                            "rto_s": 120, "timeout_s": 5}
    args.update(kw)
    return rp.drill(str(path), fmt, spg.dsn(sandbox, "restore"), **args)


@pytest.fixture(scope="module")
def dumps(sandbox: Any) -> dict[str, Path]:
    return {name: sbk.series(sandbox, name)[-1] for name in ("database", "database-custom")}


def test_custom_dump_restores_and_scratch_is_dropped(sandbox: Any, dumps: dict[str, Path]
                                                     ) -> None:
    obs = _drill(sandbox, dumps["database-custom"], "pg_custom")
    assert obs.restored and obs.dropped, obs.error
    assert obs.row_counts == {"users": 200, "studies": 5000}
    assert obs.scratch_db not in _dbs(sandbox)


def test_interrupted_drill_still_drops(sandbox: Any, dumps: dict[str, Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def interrupted(obs: rp.RestoreObservation, *a: Any, **k: Any) -> None:
        seen.append(obs.scratch_db)
        assert obs.scratch_db in _dbs(sandbox)  # it exists while the drill runs
        raise KeyboardInterrupt

    monkeypatch.setattr(rp, "_sanity", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _drill(sandbox, dumps["database"], "pg_plain_gz")
    assert seen and seen[0] not in _dbs(sandbox)


def test_name_collision_is_refused_and_nothing_dropped(sandbox: Any, dumps: dict[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    taken = rp.scratch_name("collide")
    spg.psql(sandbox, f'CREATE DATABASE "{taken}"')
    try:
        monkeypatch.setattr(rp, "scratch_name", lambda worker=None: taken)
        with pytest.raises(ProbeError, match="already exists"):
            _drill(sandbox, dumps["database"], "pg_plain_gz")
        assert taken in _dbs(sandbox)
    finally:
        spg.psql(sandbox, f'DROP DATABASE IF EXISTS "{taken}"')


def test_stale_scratch_databases_are_cleaned_only_when_marked(sandbox: Any,
                                                              dumps: dict[str, Path]) -> None:
    old = int(time.time()) - 2 * rp.STALE_AFTER_S
    marked = f"{rp.PREFIX}{old}_aaaaaa_gw9"
    unmarked = f"{rp.PREFIX}{old}_bbbbbb_gw9"
    for name in (marked, unmarked):
        spg.psql(sandbox, f'CREATE DATABASE "{name}" OWNER restore')
    spg.psql(sandbox, f"COMMENT ON DATABASE \"{marked}\" IS '{rp.MARKER}'")
    try:
        obs = _drill(sandbox, dumps["database"], "pg_plain_gz")
        assert obs.stale_dropped == [marked]
        assert marked not in _dbs(sandbox) and unmarked in _dbs(sandbox)
    finally:
        for name in (marked, unmarked):
            spg.psql(sandbox, f'DROP DATABASE IF EXISTS "{name}"')


def test_role_without_createdb_gets_a_clear_message(sandbox: Any, dumps: dict[str, Path]
                                                    ) -> None:
    spg.psql(sandbox, "ALTER ROLE restore NOCREATEDB")
    try:
        with pytest.raises(ProbeError, match="lacks CREATEDB"):
            _drill(sandbox, dumps["database"], "pg_plain_gz")
    finally:
        spg.psql(sandbox, "ALTER ROLE restore CREATEDB")


def test_plain_dump_with_owners_explains_the_failure(sandbox: Any, tmp_path: Path) -> None:
    """A dump made without --no-owner sets owners the drill role cannot take."""
    dump = tmp_path / "portable.sql.gz"
    sbk.real_dump(sandbox, dump, "pg_plain_gz")
    sql = gzip.decompress(dump.read_bytes()) + b"\nALTER TABLE public.users OWNER TO app;\n"
    owned = tmp_path / "with_owner.sql.gz"
    owned.write_bytes(gzip.compress(sql))
    obs = _drill(sandbox, owned, "pg_plain_gz")
    assert not obs.restored and obs.dropped
    assert "psql exited 3" in obs.error and "--no-owner" in obs.error


def test_truncated_custom_dump_passes_list_but_not_the_data_pass(sandbox: Any,
                                                                 dumps: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    cut = tmp_path / "cut.dump"
    data = dumps["database-custom"].read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    listed = bp.check_custom(str(dumps["database-custom"]), target="t", timeout_s=30)
    assert listed.ok and listed.table_data_entries == 3
    obs = bp.check_custom(str(cut), target="t", timeout_s=30)
    assert obs.toc_entries and not obs.ok  # the TOC read fine: --list alone would pass
    assert "data block" in obs.problem
    shutil.rmtree(tmp_path, ignore_errors=True)
