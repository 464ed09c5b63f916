"""opsverify: operational runbooks as parametrized pytest checks against live environments."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opsverify")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+src"
