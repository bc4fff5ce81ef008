"""The output directory tinyc compiles into, shared with the user: tinyc owns exactly the
files its manifest lists (with a hash of what it wrote), and nothing else.

* A recompile removes the files the last compile owned and this one does not write; a file
  the user has since edited is left in place (and reported), never deleted.
* A user-editable file (the board's src/main.c) is written only when it is missing or still
  exactly what tinyc wrote; the user's version is kept otherwise.
* Every other file under OUT (the user's own src/*.c, notes, a CMakeLists.txt) is neither
  touched nor built into tinyc's size measurement and QEMU firmware (`owned_sources`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

MANIFEST = ".tinyc_manifest.json"


@dataclass(frozen=True)
class WriteResult:
    written: tuple[str, ...]  # every path tinyc owns after this compile
    kept: tuple[str, ...] = ()  # user-editable files left as the user changed them


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(out_dir: Path) -> dict[str, str | None]:
    """OUT-relative path -> sha256 of what tinyc wrote (None: an older manifest without hashes).
    An unreadable or hand-edited manifest owns nothing, and never a path outside OUT."""
    path = Path(out_dir) / MANIFEST
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    if isinstance(data, list):  # tinyc before the hashes: a list of paths
        data = {"files": {rel: None for rel in data if isinstance(rel, str)}}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {rel: (h if isinstance(h, str) else None) for rel, h in files.items()
            if isinstance(rel, str) and not Path(rel).is_absolute() and ".." not in Path(rel).parts}


def _unchanged(path: Path, recorded: str | None) -> bool:
    return recorded is not None and path.is_file() and digest(path.read_bytes()) == recorded


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave an identical file alone, so make's and PlatformIO's timestamps keep builds cached."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_owned(out_dir: Path, files: Mapping[str, bytes], user_editable: frozenset[str] = frozenset()) -> WriteResult:
    out_dir = Path(out_dir)
    previous = read_manifest(out_dir)
    for rel, recorded in previous.items():
        path = out_dir / rel
        if rel not in files and (recorded is None or _unchanged(path, recorded)):
            path.unlink(missing_ok=True)
    owned: dict[str, str] = {}
    kept: list[str] = []
    for rel in files:  # in the caller's order: the model's sources first
        path, data = out_dir / rel, files[rel]
        if rel in user_editable and path.exists() and not _unchanged(path, previous.get(rel)) \
                and path.read_bytes() != data:
            kept.append(rel)  # the user's: not tinyc's to overwrite (nor to own)
            continue
        _write_if_changed(path, data)
        owned[rel] = digest(data)
    manifest = {"note": "files tinyc compile owns in this directory (others are yours and left alone)",
                "files": dict(sorted(owned.items()))}
    _write_if_changed(out_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return WriteResult(tuple(sorted(owned)), tuple(kept))


def owned_sources(out_dir: Path, under: str = "src", exclude: tuple[str, ...] = ()) -> list[Path]:
    """The C sources directly under OUT/`under` that tinyc wrote (not the user's own files)."""
    owned = read_manifest(out_dir)
    if not owned:  # a directory from before the manifest: everything there
        return sorted(p for p in (Path(out_dir) / under).glob("*.c") if p.name not in exclude)
    return sorted(Path(out_dir) / rel for rel in owned
                  if Path(rel).parent == Path(under) and rel.endswith(".c") and Path(rel).name not in exclude)
