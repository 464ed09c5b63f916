"""Evidence bundles: one folder per run that an auditor can keep, check and trust.

``pytest ... --bundle`` writes ``reports/<env>/<UTC timestamp>/`` with

- ``allure-results/`` and ``junit.xml`` (the raw results), ``results.json`` (one record per
  result), ``allure-report.html`` (the single-file HTML report, when the Allure CLI is
  installed), ``catalog/`` (catalog.md + catalog.json of the checks that ran),
- ``inventory.yml`` - the inventory file as written, secrets redacted (its sha256 as loaded
  is in ``bundle.json``), the waivers file and baseline comparison when used,
- ``MANIFEST.sha256`` - ``sha256sum`` format (``sha256sum -c MANIFEST.sha256`` works too),
- with ``OPSVERIFY_SIGNING_KEY`` set (an Ed25519 private key: PEM, or the 32-byte seed as
  hex or base64), ``MANIFEST.sha256.sig`` (base64 signature of the manifest) and
  ``MANIFEST.sha256.pub`` (the public key, PEM).

``python -m opsverify.bundle verify DIR [--public-key PEM]`` recomputes every hash, reports
modified, missing and unlisted files, and checks the signature: against ``--public-key``
(or ``OPSVERIFY_VERIFY_KEY``) when given - the only way to prove *who* signed - else
against the key shipped in the bundle, saying so. Exit 0 when intact, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from opsverify import redact

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sha256.sig"
PUBLIC_KEY = "MANIFEST.sha256.pub"
SIGNING_ENV = "OPSVERIFY_SIGNING_KEY"
VERIFY_ENV = "OPSVERIFY_VERIFY_KEY"
_NOT_LISTED = {MANIFEST, SIGNATURE, PUBLIC_KEY}


class BundleError(RuntimeError):
    """A bundle could not be written or a key could not be read."""


def timestamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def bundle_dir(base: Path, environment: str, now: dt.datetime | None = None) -> Path:
    """``base/<env>/<timestamp>``, never an existing folder."""
    from opsverify.report import safe_name

    d = base / safe_name(environment) / timestamp(now)
    n = 1
    candidate = d
    while candidate.exists():
        n += 1
        candidate = d.with_name(f"{d.name}-{n}")
    return candidate


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(directory: Path) -> list[str]:
    out = []
    for p in sorted(directory.rglob("*")):
        if p.is_file() and not p.is_symlink():
            rel = p.relative_to(directory).as_posix()
            if rel not in _NOT_LISTED:
                out.append(rel)
    return out


def write_manifest(directory: Path) -> Path:
    lines = [f"{sha256_file(directory / rel)}  {rel}" for rel in _files(directory)]
    path = directory / MANIFEST
    path.write_text("\n".join(lines) + "\n")
    return path


def load_private_key(text: str) -> Ed25519PrivateKey:
    """PEM (PKCS#8), or the raw 32-byte seed as hex or base64."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise BundleError(f"{SIGNING_ENV} is a PEM key but not an Ed25519 key")
            return key
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise BundleError(f"{SIGNING_ENV}: expected a 32-byte Ed25519 seed, got "
                              f"{len(raw)} bytes")
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise BundleError(f"{SIGNING_ENV} is not a readable Ed25519 key: "
                          f"{type(exc).__name__}") from None


def load_public_key(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("the public key is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(pem: bytes) -> str:
    return hashlib.sha256(pem).hexdigest()[:16]


def sign(directory: Path, key_text: str) -> Path:
    key = load_private_key(key_text)
    signature = key.sign((directory / MANIFEST).read_bytes())
    (directory / SIGNATURE).write_text(base64.b64encode(signature).decode() + "\n")
    (directory / PUBLIC_KEY).write_bytes(public_pem(key))
    return directory / SIGNATURE


def seal(directory: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Write the manifest and, with a signing key in the environment, sign it."""
    env = os.environ if environ is None else environ
    write_manifest(directory)
    notes = [f"manifest {directory / MANIFEST}"]
    key_text = env.get(SIGNING_ENV)
    if key_text:
        redact.add_secret(key_text.strip())
        sign(directory, key_text)
        notes.append(f"signed (Ed25519, key {fingerprint((directory / PUBLIC_KEY).read_bytes())})")
    return notes


def copy_into(directory: Path, src: Path, name: str | None = None) -> None:
    if not src.exists():
        return
    dest = directory / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def write_redacted(directory: Path, src: Path, name: str) -> None:
    """Copy a text file with every known secret (and URL/DSN passwords) masked."""
    text = src.read_text(errors="replace")
    (directory / name).write_text(redact.redact_text(text))


# ------------------------------------------------------------------------------- verifying
@dataclass
class Verdict:
    ok: bool = True
    modified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    signature: str = "unsigned"
    lines: list[str] = field(default_factory=list)


def verify(directory: Path, public_key: bytes | None = None) -> Verdict:
    v = Verdict()
    manifest = directory / MANIFEST
    if not manifest.exists():
        v.ok = False
        v.lines.append(f"{directory}: no {MANIFEST}: not an opsverify bundle")
        return v
    listed: dict[str, str] = {}
    for line in manifest.read_text().splitlines():
        digest, sep, rel = line.partition("  ")
        if sep:
            listed[rel] = digest
    for rel, digest in listed.items():
        p = directory / rel
        if ".." in Path(rel).parts or not p.is_file():
            v.missing.append(rel)
        elif sha256_file(p) != digest:
            v.modified.append(rel)
    v.unlisted = [rel for rel in _files(directory) if rel not in listed]
    for rel in v.modified:
        v.lines.append(f"MODIFIED  {rel}")
    for rel in v.missing:
        v.lines.append(f"MISSING   {rel}")
    for rel in v.unlisted:
        v.lines.append(f"UNLISTED  {rel}")
    v.ok = not (v.modified or v.missing or v.unlisted)
    sig = directory / SIGNATURE
    if sig.exists():
        trusted = public_key is not None
        pem = public_key if trusted else (directory / PUBLIC_KEY).read_bytes() if (
            directory / PUBLIC_KEY).exists() else None
        if pem is None:
            v.ok = False
            v.signature = "signed, but no public key to check it"
        else:
            try:
                load_public_key(pem).verify(base64.b64decode(sig.read_text().strip()),
                                            manifest.read_bytes())
                v.signature = (f"signature valid (key {fingerprint(pem)}"
                               + (", trusted key given)" if trusted else
                                  ", key shipped in the bundle: compare its fingerprint with "
                                  "your trusted key, or pass --public-key)"))
            except (InvalidSignature, ValueError, binascii.Error, BundleError):
                v.ok = False
                v.signature = f"SIGNATURE INVALID (key {fingerprint(pem)})"
    elif public_key is not None:
        v.ok = False
        v.signature = "UNSIGNED, but a trusted public key was given"
    v.lines.append(v.signature)
    v.lines.append(f"{directory}: {'intact' if v.ok else 'NOT INTACT'} "
                   f"({len(listed)} files listed)")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opsverify.bundle",
                                 description="Check an opsverify evidence bundle.")
    sub = ap.add_subparsers(dest="command", required=True)
    vp = sub.add_parser("verify", help="recompute hashes and check the signature")
    vp.add_argument("directory", type=Path)
    vp.add_argument("--public-key", type=Path, default=None,
                    help=f"trusted Ed25519 public key (PEM); default ${VERIFY_ENV}")
    args = ap.parse_args(argv)
    pem: bytes | None = None
    if args.public_key:
        pem = args.public_key.read_bytes()
    elif os.environ.get(VERIFY_ENV):
        pem = os.environ[VERIFY_ENV].encode()
    verdict = verify(args.directory, pem)
    for line in verdict.lines:
        print(line)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
