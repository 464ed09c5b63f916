"""Secrets at rest in env files, read through testinfra (local, ssh or docker hosts).

The values are read into memory to be judged and dropped: observations name only the
variable and the rule it breaks (``SECRET_KEY: default value``), never the value, not even
masked — a length or a prefix already helps an attacker.

>>> findings = weak_values("A_KEY=changeme\\nDEBUG=false\\nJWT_SECRET=short\\n", min_length=32)
>>> [(f.variable, f.rule) for f in findings]
[('A_KEY', 'well-known default value'), ('JWT_SECRET', 'shorter than 32 characters')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opsverify.errors import ProbeError

#: Values that installers, tutorials and ``.env.example`` files ship with.
WEAK_VALUES = frozenset({
    "changeme", "change_me", "change-me", "changeit", "secret", "admin", "password", "passwd",
    "default", "test", "example", "123456", "12345678", "qwerty", "letmein", "root", "guest",
    "postgres", "redis", "your-secret-key", "your_secret_key", "supersecret", "mysecret",
    "secretkey", "secret_key", "please-change", "todo", "xxx", "dev", "development",
})
#: Names that hold secrets: the weak-value rule applies to them.
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|PASS|PWD|SECRET|KEY|TOKEN|CREDENTIALS?)$", re.I)
#: Names whose length is judged too (keys and signing secrets must be long and random).
_LENGTH_NAME = re.compile(r"(KEY|SECRET)$", re.I)
#: Names that end in KEY but hold no secret.
_NOT_SECRET = re.compile(r"(PUBLIC_KEY|_KEY_ID|KEY_PATH|KEY_FILE|PUBLISHABLE_KEY)$", re.I)
DEMO_FLAGS = ("ENABLE_DEMO_DATA",)
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
MAX_ENV_BYTES = 1024 * 1024


@dataclass
class Finding:
    variable: str
    rule: str


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines (``export`` allowed, quotes stripped, comments skipped)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key.strip()] = value
    return out


def weak_values(text: str, *, min_length: int) -> list[Finding]:
    """Secret-named variables with a well-known default value, or keys/secrets too short."""
    found: list[Finding] = []
    for key, value in parse_env(text).items():
        if not _SECRET_NAME.search(key) or _NOT_SECRET.search(key):
            continue
        if value.strip().lower() in WEAK_VALUES:
            found.append(Finding(key, "well-known default value"))
        elif _LENGTH_NAME.search(key) and len(value) < min_length:
            found.append(Finding(key, f"shorter than {min_length} characters"))
    return found


def demo_flags(text: str) -> list[Finding]:
    env = parse_env(text)
    return [Finding(k, "demo data enabled") for k in DEMO_FLAGS
            if env.get(k, "").strip().lower() in _TRUE]


@dataclass
class EnvFile:
    """An env file's metadata; ``text`` is kept out of evidence (``evidence()``)."""

    host: str
    path: str
    exists: bool
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    text: str = field(default="", repr=False)

    @property
    def mode_octal(self) -> str:
        return f"{self.mode:04o}" if self.mode is not None else "?"

    @property
    def group_or_world_access(self) -> bool:
        return self.mode is not None and bool(self.mode & 0o077)

    def evidence(self) -> dict[str, Any]:
        return {"host": self.host, "path": self.path, "exists": self.exists,
                "mode": self.mode_octal, "owner": self.owner, "group": self.group,
                "variables": sorted(parse_env(self.text)) if self.text else []}


def read_env_file(host: Any, host_name: str, path: str, *, target: str) -> EnvFile:
    """Metadata and content of ``path`` on a testinfra host, in one command (SSH round trips
    cost ~0.5 s each): ``stat`` then at most 1 MiB of the file."""
    cmd = ("if [ ! -e %s ]; then echo MISSING; exit 0; fi; "
           "stat -L -c '%%a %%U %%G %%s %%F' -- %s || exit 3; "
           "if [ -f %s ]; then head -c %s -- %s; fi")
    try:
        res = host.run(cmd, path, path, path, str(MAX_ENV_BYTES + 1), path)
    except Exception as exc:  # testinfra raises plain RuntimeError on connection failures
        # Never echo a command's stdout: it could be the file's content.
        msg = " ".join(str(exc).split()).split("stdout=")[0][:200]
        raise ProbeError(target, f"cannot read {path} on {host_name}: "
                                 f"{type(exc).__name__}: {msg}") from None
    if res.rc != 0:
        err = " ".join(res.stderr.split())[:200]
        raise ProbeError(target, f"cannot read {path} on {host_name} (exit {res.rc}): {err}")
    head, _, text = res.stdout.partition("\n")
    if head.strip() == "MISSING":
        return EnvFile(host_name, path, False)
    fields = head.split(" ", 4)
    if len(fields) < 5:
        raise ProbeError(target, f"unexpected stat output for {path} on {host_name}")
    mode, owner, group, size, kind = fields
    if kind.strip() not in ("regular file", "regular empty file"):
        raise ProbeError(target, f"{path} on {host_name} is a {kind.strip()}, not a file")
    if int(size) > MAX_ENV_BYTES:
        raise ProbeError(target, f"{path} on {host_name} is {size} bytes: not an env file")
    return EnvFile(host_name, path, True, mode=int(mode, 8), owner=owner, group=group,
                   text=text)
