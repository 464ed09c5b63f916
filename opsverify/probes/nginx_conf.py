"""nginx directives as written in a configuration file, read on a host through testinfra.

``nginx -T`` needs the binary and often root; the runbooks point at a file
(``docker/nginx.conf``), so the file is read as it is (``head -c`` with a cap) and parsed into
statements: comments dropped, whitespace normalised, one statement per ``;``. ``include``
files are not followed: the evidence lists them, so a directive kept there can be declared
against that file instead.

>>> statements("http { # upload\\n  proxy_read_timeout   600s;\\n  location / { x on; } }")
['proxy_read_timeout 600s', 'x on']
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from opsverify.probes import hosts as hosts_probe

MAX_BYTES = 2 * 1024 * 1024


def statements(text: str) -> list[str]:
    """Simple directives (``name args``) in file order. Quotes are honoured (a ``;`` or ``#``
    inside ``add_header ... "default-src 'self'; ..."`` is not a separator); block openers
    (``location /api/ {``) are not statements."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        elif ch == ";":
            words = " ".join("".join(cur).split())
            if words:
                out.append(words)
            cur = []
        elif ch in "{}":
            cur = []
        else:
            cur.append(ch)
        i += 1
    return out


@dataclass
class DirectiveCheck:
    file: str
    bytes_read: int
    expected: list[str]
    missing: list[str] = field(default_factory=list)
    found: dict[str, list[str]] = field(default_factory=dict)  # directive name -> values seen
    includes: list[str] = field(default_factory=list)


def check_directives(host: Any, path: str, expected: list[str], *,
                     target: str) -> DirectiveCheck:
    """Which of ``expected`` (``name`` or ``name value``) the file at ``path`` lacks."""
    text = hosts_probe.run(host, f"head -c {MAX_BYTES} -- {shlex.quote(path)}", target=target)
    stmts = statements(text)
    out = DirectiveCheck(file=path, bytes_read=len(text.encode()), expected=list(expected))
    for s in stmts:
        name, _, value = s.partition(" ")
        if name == "include":
            out.includes.append(value)
    for want in expected:
        norm = " ".join(want.split())
        name = norm.split(" ", 1)[0]
        values = [s.partition(" ")[2] for s in stmts if s.split(" ", 1)[0] == name]
        out.found[name] = values
        if not any(s == norm or (norm == name and s.startswith(name + " ")) for s in stmts):
            out.missing.append(norm)
    return out
