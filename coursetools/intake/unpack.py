"""Unpack an LMS download (zip, folder or one notebook) into a flat staging folder, safely.

Unlike nbgrader's zip_collect, which extracts everything (archives nested in the download
too) with the archive's own paths and mode bits:
- only notebooks (``*.ipynb``) are staged, each under a name we make up (``0001.ipynb``),
  written as a plain file readable by the owner only: no path from the download is ever
  used to write, no mode bit (setuid!) is ever kept, no symbolic link is ever followed;
- an archive inside the download is never opened: it is refused and listed;
- small text files are read into memory (Blackboard's receipts); everything else is
  refused and listed ("not a notebook");
- caps: entries in the download, bytes of one notebook, bytes of all notebooks;
- ``__MACOSX/``, ``.DS_Store`` and ``._*`` (macOS's zip companions) are skipped, counted.
"""

import os
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from coursetools.errors import CourseError

TEXT_LIMIT = 64 * 1024  # a Blackboard receipt is a few hundred bytes
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".7z",
                    ".rar", ".jar", ".whl", ".zst", ".lz", ".lzma", ".cab", ".iso")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                 b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd")
CHUNK = 1024 * 1024


@dataclass
class Entry:
    """One notebook of the download, staged under a name of ours."""

    path: str          # its path inside the download ('/'-separated, NFC), for messages
    staged: Path       # our flat copy
    size: int
    zip_time: datetime | None = None  # the zip entry's (local, zone-less) time, if any

    @property
    def name(self):
        return PurePosixPath(self.path).name


@dataclass
class Refusal:
    """A file of the download that was not used, and why (one short sentence)."""

    path: str
    reason: str


@dataclass
class Unpacked:
    source: Path
    notebooks: list = field(default_factory=list)   # [Entry]
    texts: dict = field(default_factory=dict)        # {path: text} small .txt files
    refused: list = field(default_factory=list)      # [Refusal]
    skipped: int = 0                                  # __MACOSX/, .DS_Store, ._* entries
    unpacked_bytes: int = 0


def unpack(source, staging, settings):
    """Unpack ``source`` (zip file, folder or one .ipynb) into the empty folder ``staging``."""
    source = Path(source)
    staging.mkdir(parents=True, exist_ok=False)
    if source.is_dir():
        return _from_folder(source, staging, settings)
    if source.is_file() and source.suffix.lower() == ".ipynb":
        result = Unpacked(source)
        _add_file(result, staging, settings, source.name, lambda: open(source, "rb"),
                  source.stat().st_size, None)
        return result
    if source.is_file() and zipfile.is_zipfile(source):
        return _from_zip(source, staging, settings)
    if source.is_file():
        raise CourseError(f"{source} is neither a folder, a zip file nor a notebook")
    raise CourseError(f"nothing to collect: {source} does not exist (give FROM=<folder or zip of notebooks>)")


def is_mac_companion(path):
    parts = PurePosixPath(path).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1] == ".DS_Store"
                            or parts[-1].startswith("._"))


def _zip_name(info):
    """The entry's name as the LMS meant it: UTF-8 even without the zip's UTF-8 flag, NFC."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:  # zipfile decoded it as cp437; Windows and macOS zippers often wrote UTF-8
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", name)


def _unsafe(name):
    """Why a zip entry's path would lead outside the staging folder (None: it would not)."""
    if "\\" in name:
        return "a path with backslashes"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a path leading outside the download (..)"
    if "\x00" in name:
        return "a path with a NUL character"
    return None


def _from_zip(source, staging, settings):
    result = Unpacked(source)
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            if len(infos) > settings.max_entries:
                raise CourseError(
                    f"{source.name}: {len(infos)} entries, more than the cap of "
                    f"{settings.max_entries} (c.Intake.max_entries in nbgrader_config.py): "
                    "refused whole, nothing collected")
            declared = sum(i.file_size for i in infos if _zip_name(i).lower().endswith(".ipynb")
                           and i.file_size <= settings.max_notebook_bytes)
            if declared > settings.max_unpacked_bytes:
                raise CourseError(
                    f"{source.name}: its notebooks unpack to {declared} bytes, more than the cap "
                    f"of {settings.max_unpacked_bytes} (c.Intake.max_unpacked_bytes in "
                    "nbgrader_config.py): refused whole, nothing collected")
            for info in infos:
                name = _zip_name(info)
                if info.is_dir():
                    continue
                if is_mac_companion(name):
                    result.skipped += 1
                    continue
                why = _unsafe(name)
                if why:
                    result.refused.append(Refusal(name, f"{why}: not unpacked"))
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    result.refused.append(Refusal(name, "a symbolic link: not followed"))
                    continue
                if info.flag_bits & 0x1:
                    result.refused.append(Refusal(name, "encrypted in the zip: cannot be read"))
                    continue
                try:
                    when = datetime(*info.date_time)
                except ValueError:
                    when = None
                _add_file(result, staging, settings, name, lambda i=info: zf.open(i),
                          info.file_size, when)
    except zipfile.BadZipFile as exc:
        raise CourseError(f"{source.name} is not a readable zip file ({exc})") from None
    return result


def _from_folder(source, staging, settings):
    result = Unpacked(source)
    count = 0
    for folder, dirs, files in os.walk(source, followlinks=False):
        count += len(dirs) + len(files)
        if count > settings.max_entries:
            raise CourseError(
                f"{source}: more than {settings.max_entries} entries (the cap "
                "c.Intake.max_entries in nbgrader_config.py): refused whole, nothing collected")
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            rel = unicodedata.normalize("NFC", path.relative_to(source).as_posix())
            if is_mac_companion(rel):
                result.skipped += 1
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                result.refused.append(Refusal(rel, "a symbolic link: not followed"))
                continue
            if not stat.S_ISREG(info.st_mode):
                result.refused.append(Refusal(rel, "not a regular file"))
                continue
            _add_file(result, staging, settings, rel, lambda p=path: open(p, "rb"), info.st_size,
                      None)
        for name in list(dirs):
            if (Path(folder) / name).is_symlink():
                result.refused.append(Refusal(
                    unicodedata.normalize("NFC", (Path(folder) / name).relative_to(source).as_posix()),
                    "a symbolic link: not followed"))
                dirs.remove(name)
    return result


def _add_file(result, staging, settings, name, opener, size, when):
    lower = name.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        result.refused.append(Refusal(name, "an archive inside the download: not opened"))
        return
    if lower.endswith(".txt") and size <= TEXT_LIMIT:
        try:
            with opener() as fh:
                data = fh.read(TEXT_LIMIT + 1)
        except Exception as exc:  # noqa: BLE001 - a damaged entry is listed, not fatal
            result.refused.append(Refusal(name, f"cannot be read ({_short(exc)})"))
            return
        result.texts[name] = data.decode("utf-8", errors="replace")
        return
    if not lower.endswith(".ipynb"):
        result.refused.append(Refusal(name, "not a notebook (.ipynb)"))
        return
    if size > settings.max_notebook_bytes:
        result.refused.append(Refusal(
            name, f"{size} bytes unpacked, more than the cap of {settings.max_notebook_bytes} "
                  "(c.Intake.max_notebook_bytes in nbgrader_config.py): not unpacked"))
        return
    index = len(result.notebooks) + 1
    target = staging / f"{index:04d}.ipynb"
    limit = settings.max_notebook_bytes
    written = 0
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with opener() as src, os.fdopen(fd, "wb") as out:
            head = src.read(8)
            if head.startswith(ARCHIVE_MAGIC):
                raise _Refused("an archive (by its content) named like a notebook: not opened")
            out.write(head)
            written = len(head)
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise _Refused(f"more than the cap of {limit} bytes unpacked "
                                   "(c.Intake.max_notebook_bytes in nbgrader_config.py)")
                if result.unpacked_bytes + written > settings.max_unpacked_bytes:
                    raise CourseError(
                        f"{result.source.name}: its notebooks unpack to more than the cap of "
                        f"{settings.max_unpacked_bytes} bytes (c.Intake.max_unpacked_bytes in "
                        "nbgrader_config.py): refused whole, nothing collected")
                out.write(chunk)
    except _Refused as exc:
        target.unlink(missing_ok=True)
        result.refused.append(Refusal(name, str(exc)))
        return
    except CourseError:
        target.unlink(missing_ok=True)
        raise
    except Exception as exc:  # noqa: BLE001 - CRC error, truncated entry: this file only
        target.unlink(missing_ok=True)
        result.refused.append(Refusal(name, f"cannot be unpacked ({_short(exc)})"))
        return
    result.unpacked_bytes += written
    result.notebooks.append(Entry(name, target, written, when))


class _Refused(Exception):
    pass


def _short(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]
