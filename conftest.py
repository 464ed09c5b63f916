"""Thin on purpose: the opsverify plugin is loaded through its pytest11 entry point; this file
only brings in the shared fixture modules for checks (and pytester for the self-tests)."""

pytest_plugins = [
    "fixtures.clients",
    "fixtures.health",
    "fixtures.backups",
    "fixtures.tls",
    "fixtures.security",
    "fixtures.performance",
    "pytester",
]
