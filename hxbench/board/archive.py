"""Safe intake of submission archives (``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz``).

Archives are checked member by member **before anything is extracted** (``check_archive``):
no absolute paths, no ``..`` components, no symlinks / hard links / devices, no duplicate
names, at most ``max_members`` members, no member over ``max_member_bytes``, declared
uncompressed total at most ``max_total_bytes`` and the compression ratio of every member,
however small, at most ``max_ratio`` (a zip bomb is refused from its headers). Extraction
(``safe_extract``) then streams each member and stops if a member produces more bytes than
its header declared, so the bytes written never exceed the checked total; a member whose data
contradicts its header (size, CRC, a corrupt stream) is refused in one line, and the partial
file removed.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Callable

from hxbench.errors import SubmissionError


@dataclass
class ArchiveLimits:
    max_members: int = 20000
    max_member_bytes: int = 2 * 1024**3  # 2 GiB per file
    max_total_bytes: int = 50 * 1024**3  # 50 GiB uncompressed in all
    max_ratio: float = 200.0  # uncompressed / compressed per member (H.264 barely compresses)

    @classmethod
    def from_env(cls) -> "ArchiveLimits":
        lim = cls()
        for attr, var, conv in (("max_members", "HXBENCH_MAX_MEMBERS", int),
                                ("max_member_bytes", "HXBENCH_MAX_MEMBER_BYTES", int),
                                ("max_total_bytes", "HXBENCH_MAX_TOTAL_BYTES", int),
                                ("max_ratio", "HXBENCH_MAX_RATIO", float)):
            if os.environ.get(var):
                setattr(lim, attr, conv(os.environ[var]))
        return lim


@dataclass
class Member:
    name: str  # normalised posix path inside the archive
    size: int  # declared uncompressed size
    compressed: int | None  # compressed size (zip only)
    is_dir: bool = False


def archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    return None


def _name_problems(raw: str) -> list[str]:
    probs = []
    if "\x00" in raw:
        return [f"member {raw!r} has a NUL byte in its name"]
    norm = raw.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        probs.append(f"member {raw!r} has an absolute path")
    if ".." in PurePosixPath(norm).parts:
        probs.append(f"member {raw!r} escapes the extraction folder ('..' path traversal)")
    return probs


def check_archive(path: str | Path, limits: ArchiveLimits | None = None) -> list[Member]:
    """Inspect an archive's headers without extracting; raise SubmissionError listing every
    unsafe member. Returns the regular-file and folder members."""
    path = Path(path)
    limits = limits or ArchiveLimits.from_env()
    kind = archive_kind(path)
    if kind is None:
        raise SubmissionError([f"{path.name}: not a supported archive (.zip, .tar, .tar.gz, .tgz)"])
    problems: list[str] = []
    members: list[Member] = []
    seen: set[str] = set()
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
                entries = []
                for info in infos:
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        problems.append(f"member {info.filename!r} is a symbolic link (not allowed)")
                        continue
                    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
                        problems.append(f"member {info.filename!r} is not a regular file")
                        continue
                    if info.flag_bits & 0x1:
                        problems.append(f"member {info.filename!r} is encrypted")
                        continue
                    entries.append((info.filename, info.file_size, info.compress_size, info.is_dir()))
        else:
            with tarfile.open(path) as tf:
                entries = []
                for ti in tf.getmembers():
                    if ti.issym() or ti.islnk():
                        what = "symbolic" if ti.issym() else "hard"
                        problems.append(f"member {ti.name!r} is a {what} link (not allowed)")
                        continue
                    if not (ti.isfile() or ti.isdir()):
                        problems.append(f"member {ti.name!r} is not a regular file (device, fifo ...)")
                        continue
                    entries.append((ti.name, ti.size, None, ti.isdir()))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
        raise SubmissionError([f"{path.name}: unreadable archive ({type(err).__name__}: {err})"]) from None

    if len(entries) > limits.max_members:
        problems.append(f"archive has {len(entries)} members, more than the limit {limits.max_members}")
    total = 0
    for raw, size, csize, is_dir in entries:
        name_probs = _name_problems(raw)
        problems += name_probs
        if name_probs:
            continue
        norm = str(PurePosixPath(raw.replace("\\", "/")))
        if norm in seen:
            problems.append(f"member {raw!r} appears more than once in the archive")
            continue
        seen.add(norm)
        if not is_dir:
            total += size
            if size > limits.max_member_bytes:
                problems.append(f"member {raw!r} would be {size} bytes uncompressed, over the "
                                f"per-file limit {limits.max_member_bytes}")
            if csize is not None and size > limits.max_ratio * max(csize, 1):
                problems.append(f"member {raw!r} compresses {size / max(csize, 1):.0f}:1 "
                                f"(limit {limits.max_ratio:g}:1): refused as a possible zip bomb")
        members.append(Member(norm, size, csize, is_dir))
    if total > limits.max_total_bytes:
        problems.append(f"archive would be {total} bytes uncompressed, over the limit "
                        f"{limits.max_total_bytes} (zip bomb protection)")
    if problems:
        raise SubmissionError(problems, f"archive {path.name}")
    return members


def safe_extract(path: str | Path, dest: str | Path, limits: ArchiveLimits | None = None) -> Path:
    """Check then extract an archive into ``dest``; returns the outputs folder (``dest``, or
    its single top-level folder when the archive wraps everything in one)."""
    path, dest = Path(path), Path(dest)
    limits = limits or ArchiveLimits.from_env()
    members = check_archive(path, limits)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    wanted = {m.name: m for m in members}

    def target(name: str) -> Path:
        t = (root / name).resolve()
        if root != t and root not in t.parents:  # belt and braces after check_archive
            raise SubmissionError([f"member {name!r} escapes the extraction folder"])
        return t

    def copy_capped(src, dst: Path, m: Member) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(dst, "wb") as out:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if written > m.size or written > limits.max_member_bytes:
                    raise SubmissionError([f"member {m.name!r} is larger than its header declares "
                                           f"({m.size} bytes): refused as a possible zip bomb"])
                out.write(chunk)

    def extract(name: str, open_member: Callable[[], IO[bytes] | None]) -> None:
        m = wanted.get(name)
        if m is None:
            return
        if m.is_dir:
            target(name).mkdir(parents=True, exist_ok=True)
            return
        try:
            src = open_member()
            if src is not None:  # a tar member without data
                with src:
                    copy_capped(src, target(name), m)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as err:
            target(name).unlink(missing_ok=True)
            raise SubmissionError([f"{path.name}: member {name!r} does not match its header "
                                   f"({type(err).__name__}: {err}): refused"]) from None
        except SubmissionError:
            target(name).unlink(missing_ok=True)
            raise

    if archive_kind(path) == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                extract(str(PurePosixPath(info.filename.replace("\\", "/"))), lambda info=info: zf.open(info))
    else:
        with tarfile.open(path) as tf:
            for ti in tf.getmembers():
                extract(str(PurePosixPath(ti.name)), lambda ti=ti: tf.extractfile(ti))
    entries = [p for p in dest.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest
