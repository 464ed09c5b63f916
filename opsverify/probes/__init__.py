"""Probes observe a system and return typed observations. No assertions, no pytest.

A probe that cannot observe its target raises :class:`opsverify.errors.ProbeError` (the check
result is then *broken*); every network call has a timeout.
"""
