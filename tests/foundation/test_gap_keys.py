"""Inventory keys and probe helpers of the gap checks (issue 11): validation and parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsverify.inventory import Inventory
from opsverify.probes import wal_archive


def test_host_min_free_and_required_files() -> None:
    inv = Inventory.model_validate({"hosts": [{
        "name": "h", "min_free": {"/": "10g", "/data": 1024},
        "required_files": ["/app/model.pth", {"path": "/app/b", "min_size": "1m"}]}]})
    h = inv.hosts[0]
    assert h.min_free == {"/": 10 * 1024**3, "/data": 1024}
    assert [(f.path, f.min_size) for f in h.required_files] == [
        ("/app/model.pth", None), ("/app/b", 1024**2)]


def test_migrations_key() -> None:
    inv = Inventory.model_validate({"postgres": [{
        "name": "m", "dsn": "host=x", "migrations": {"expect": ["b2", "a1"]}}]})
    m = inv.postgres[0].migrations
    assert m is not None and m.table == "alembic_version" and m.expected == ["a1", "b2"]
    with pytest.raises(ValidationError, match="plain SQL identifier"):
        Inventory.model_validate({"postgres": [{
            "name": "m", "dsn": "host=x",
            "migrations": {"table": "x; drop table y", "expect": "a"}}]})


def test_wal_archive_threshold_and_parsing() -> None:
    inv = Inventory.model_validate({"postgres": [{
        "name": "m", "dsn": "host=x", "wal_archive": True, "wal_archive_max_age_s": 900}]})
    assert inv.threshold("wal_archive_max_age_s", inv.postgres[0]) == 900
    assert inv.threshold("wal_archive_max_age_s") == 3600
    assert wal_archive._interval_s("5min") == 300
    assert wal_archive._interval_s("0") == 0
    assert wal_archive._interval_s("1h") == 3600
    assert wal_archive.segment_end_lsn("000000010000000000000002", 16 * 2**20) == "0/3000000"
