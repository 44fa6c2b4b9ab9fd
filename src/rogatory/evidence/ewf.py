"""Expert Witness Format (EWF / E01) images, split sets included, through libewf (pyewf).

An E01 image is a container: its file hash covers the container bytes, while
the acquisition tool stored a hash of the *media* inside it (MD5 in the
``hash`` section, MD5/SHA-1 in ``digest``; libewf EWF format documentation
§3.17–3.18). We record both, the header fields (case number, examiner,
evidence number, acquisition date and software), and whether a fresh read of
the media through libewf reproduces the stored hash.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyewf

from rogatory.errors import IntakeError
from rogatory.evidence.hashing import new_hasher

EWF_SUFFIXES = (".e01", ".s01", ".l01")
_MEDIA_READ = 4 << 20


def is_ewf_path(path: Path) -> bool:
    """Whether ``path`` names the first segment of an EWF image (by name and signature)."""
    if path.suffix.lower() not in EWF_SUFFIXES or not path.is_file():
        return False
    try:
        return bool(pyewf.check_file_signature(str(path)))
    except OSError:
        return False


def has_ewf_signature(path: Path) -> bool:
    """Whether ``path`` starts with an EWF segment signature (any segment)."""
    try:
        return bool(pyewf.check_file_signature(str(path)))
    except OSError:
        return False


def segments(first: Path) -> list[Path]:
    """The segment files of the image whose first segment is ``first``, in order.

    Raises:
        IntakeError: libewf cannot list the segments.
    """
    try:
        return [Path(p) for p in pyewf.glob(str(first))]
    except (OSError, TypeError) as exc:
        raise IntakeError(f"cannot list the segments of EWF image {first}: {exc}", "") from exc


@dataclass
class EwfInfo:
    """What an EWF image says about its media.

    Attributes:
        segments: segment file names, in order.
        media_size: media length in bytes.
        stored_hashes: hashes the acquisition tool stored, lower-case hex by
            lower-case algorithm name (``md5``, ``sha1``).
        header: header values (``case_number``, ``examiner_name``,
            ``evidence_number``, ``acquiry_date``, ``acquiry_software_version`` …).
        computed_hashes: media digests from our re-read (empty if not re-read).
        media_verified: ``True`` if every stored hash equals the re-read one,
            ``False`` if one differs, ``None`` if not re-read or nothing stored.
    """

    segments: list[str]
    media_size: int
    stored_hashes: dict[str, str]
    header: dict[str, str]
    computed_hashes: dict[str, str] = field(default_factory=dict)
    media_verified: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _open(paths: list[Path]) -> Any:
    handle = pyewf.handle()
    try:
        handle.open([str(p) for p in paths])
    except OSError as exc:
        raise IntakeError(
            f"libewf cannot open EWF image {paths[0].name}: {exc}",
            "check that every segment (.E01, .E02, …) is present and undamaged",
        ) from exc
    return handle


def _header_time_utc(text: str) -> str | None:
    """libewf renders header dates (``Tue Dec 10 11:28:38 2013``) in the reading
    process's local time zone; undo that and return ISO 8601 UTC, or ``None``."""
    try:
        local = time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return dt.datetime.fromtimestamp(time.mktime(local), dt.UTC).isoformat()


def read_info(paths: list[Path]) -> EwfInfo:
    """Header and stored media hashes of the image made of ``paths``.

    Raises:
        IntakeError: libewf cannot open the set, reads no media from it, or cannot
            read the end of the media (a missing or truncated segment).
    """
    handle = _open(paths)
    try:
        stored = {
            k.lower().replace("-", ""): v.lower() for k, v in handle.get_hash_values().items()
        }
        header = {k: str(v) for k, v in handle.get_header_values().items()}
        for key in ("acquiry_date", "system_date"):
            utc = _header_time_utc(header.get(key, ""))
            if utc is not None:
                header[f"{key}_utc"] = utc
        size = int(handle.get_media_size())
        if size <= 0:
            raise IntakeError(
                f"libewf reads no media from EWF image {paths[0].name}: its header sections are damaged",
                "check it with ewfverify and obtain an intact copy",
            )
        # the last bytes of the media live in the last segment: a missing or cut segment shows here
        want = min(size, 512)
        try:
            tail = handle.read_buffer_at_offset(want, size - want)
        except OSError:
            tail = b""
        if len(tail) != want:
            raise IntakeError(
                f"EWF image {paths[0].name} is incomplete or damaged: the end of its media cannot be read",
                "keep all segments (.E01, .E02, …) together and check them with ewfverify",
            )
        return EwfInfo([p.name for p in paths], size, stored, header)
    finally:
        handle.close()


def verify_media(
    paths: list[Path], info: EwfInfo, progress: Callable[[int], object] | None = None
) -> EwfInfo:
    """Re-read the whole media through libewf, hash it, compare with the stored hashes.

    Computes MD5, SHA-1 and SHA-256 of the ``info.media_size`` media bytes and
    sets ``computed_hashes`` and ``media_verified`` on ``info`` (returned).

    Raises:
        IntakeError: the media cannot be read (a missing or damaged segment);
            the message names the offset.
    """
    handle = _open(paths)
    hashers = {name: new_hasher(name) for name in ("md5", "sha1", "sha256")}
    offset = 0
    try:
        while offset < info.media_size:
            want = min(_MEDIA_READ, info.media_size - offset)
            try:
                data = handle.read_buffer_at_offset(want, offset)
            except OSError as exc:
                raise IntakeError(
                    f"EWF image {paths[0].name} is incomplete or damaged: "
                    f"media unreadable at offset {offset} of {info.media_size}",
                    "keep all segments (.E01, .E02, …) together and check them with ewfverify",
                ) from exc
            if not data:
                raise IntakeError(
                    f"EWF image {paths[0].name} ends at media offset {offset}, "
                    f"before its stated size {info.media_size}",
                    "the image is truncated; acquire or copy it again",
                )
            for h in hashers.values():
                h.update(data)
            offset += len(data)
            if progress is not None:
                progress(len(data))
    finally:
        handle.close()
    info.computed_hashes = {k: h.hexdigest() for k, h in hashers.items()}
    comparable = [k for k in info.stored_hashes if k in info.computed_hashes]
    if comparable:
        info.media_verified = all(
            info.stored_hashes[k] == info.computed_hashes[k] for k in comparable
        )
    return info
