#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write ``manifest.json`` for the fictional example evidence shipped with Rogatory.

For every example file: size, MD5, SHA-1 and SHA-256 (computed with the
coreutils ``md5sum``/``sha1sum``/``sha256sum`` tools and cross-checked with
hashlib), a one-line description, and the indicators the file is known to
contain (each one checked against the file's bytes). For the E01 image it
also records what is stored inside the image (media MD5/SHA-1, media size,
header values) read with pyewf, after reading the whole media and checking
that its MD5 and SHA-1 match the stored ones.

Run it with the project's virtualenv (pyewf is needed):

    .venv/bin/python tools/make_examples/make_manifest.py [EXAMPLES_DIR]
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# libewf renders header dates with the C library's local time: force UTC.
os.environ["TZ"] = "UTC"
time.tzset()

import pyewf  # noqa: E402  (after the time zone is fixed)

CASE = {
    "case_number": "NL-2026-RANSOM-0042",
    "title": "BLEAKTIDE ransomware attack on Voorbeeld Logistiek B.V. (fictional)",
    "investigating_unit": "Dutch police cybercrime unit (fictional case)",
    "incident_window_local": "2026-11-12T21:00 / 2026-11-13T08:20 (Europe/Amsterdam, UTC+01:00)",
    "fictional": True,
}

BTC = "bc1qfakeaddressfakeaddressfakeaddresdfnpv9"
ONION = "bleaktidefictionaldemoaddressnotarealhiddenservicexdrmqd.onion"
EMAIL = "bleaktide.recovery@example.net"
VICTIM_ID = "VBL-2026-1113-7F3A"

FILES: dict[str, dict[str, Any]] = {
    "server-auth.log": {
        "media_type": "text/plain",
        "description": "Debian auth.log of file server fs01 (192.0.2.15): SSH brute force from "
        "203.0.113.77, password login as 'backup', sudo abuse, new account "
        "'svc-sync', lateral movement to 192.0.2.31 and 192.0.2.40 "
        "(syslog timestamps without year: 2026, Europe/Amsterdam).",
        "indicators": {
            "ipv4": [
                "203.0.113.77",
                "203.0.113.201",
                "198.51.100.23",
                "192.0.2.31",
                "192.0.2.40",
                "192.0.2.10",
            ],
            "url": [
                "http://198.51.100.23/d/rcl.bin",
                f"http://198.51.100.23/upload.php?id={VICTIM_ID}",
            ],
            "account": ["backup", "svc-sync"],
        },
    },
    "ransom-note.txt": {
        "media_type": "text/plain",
        "description": "Ransom note of the fictional BLEAKTIDE COLLECTIVE left on the victim's "
        "systems (also inside workstation.E01, byte-identical).",
        "indicators": {
            "onion": [ONION],
            "btc_address": [BTC],
            "email": [EMAIL],
            "victim_id": [VICTIM_ID],
            "file_extension": [".bleak"],
        },
    },
    "capture.pcap": {
        "media_type": "application/vnd.tcpdump.pcap",
        "description": "libpcap capture (Ethernet, 45 packets, 2026-11-13 02:41:07-02:42:12 UTC) "
        "at fs01: DNS lookups, HTTP POST of a tar.gz to 198.51.100.23:80 and a "
        "TLS 1.3 upload to 198.51.100.23:443 (SNI upload.example.net).",
        "indicators": {
            "ipv4": ["192.0.2.15", "192.0.2.53", "198.51.100.23"],
            "domain": ["update.example.net", "upload.example.net"],
            "url": [f"http://update.example.net/upload.php?id={VICTIM_ID}"],
        },
    },
    "workstation.E01": {
        "media_type": "application/x-ewf",
        "description": "EnCase 6 (EWF-E01) image of a 2 MiB demo disk of workstation WS-0117 "
        "(192.0.2.40): MBR + FAT12 user profile with .bleak files, ransom notes, "
        "an inert dropper script, the encryptor log and a deleted staging list.",
        "indicators": {
            "ipv4": ["198.51.100.23"],
            "domain": ["update.example.net", "upload.example.net"],
            "onion": [ONION],
            "btc_address": [BTC],
            "email": [EMAIL],
            "victim_id": [VICTIM_ID],
        },
    },
}

# Strings inside the E01 media whose byte offsets the manifest records.
MEDIA_MARKERS = {
    "unpartitioned_gap_marker": b"ROGATORY-DEMO-MARKER unpartitioned-gap",
    "deleted_file_marker": b"ROGATORY-DEMO-MARKER deleted-file",
    "encrypted_file_footers": b"BLEAKTIDE\x00" + VICTIM_ID.encode(),
}


def coreutils_digest(tool: str, path: Path) -> str:
    out = subprocess.run([tool, "--", str(path)], check=True, capture_output=True, text=True).stdout
    return out.split()[0].lstrip("\\")


def file_hashes(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    result = {}
    for name, tool in (("md5", "md5sum"), ("sha1", "sha1sum"), ("sha256", "sha256sum")):
        value = coreutils_digest(tool, path)
        if value != hashlib.new(name, data).hexdigest():
            raise SystemExit(f"{path.name}: {tool} and hashlib disagree")
        result[name] = value
    return result


def offsets(data: bytes, needle: bytes) -> list[int]:
    found, pos = [], data.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = data.find(needle, pos + 1)
    return found


def check_indicators(name: str, data: bytes, indicators: dict[str, list[str]]) -> None:
    for kind, values in indicators.items():
        for value in values:
            if kind == "url" and name == "capture.pcap":
                # reconstructed from the Host header and request line
                host, _, path = value.removeprefix("http://").partition("/")
                present = f"Host: {host}".encode() in data and f"POST /{path} ".encode() in data
            elif kind == "ipv4" and name == "capture.pcap":
                present = socket.inet_aton(value) in data
            else:
                present = value.encode() in data
            if not present:
                raise SystemExit(f"{name}: indicator {value!r} not found")


def ewf_details(path: Path, note: bytes) -> tuple[dict[str, Any], bytes]:
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(path)))
    try:
        size = handle.get_media_size()
        media = handle.read(size)
        stored = handle.get_hash_values()
        headers = handle.get_header_values()
        details = {
            "format": "EnCase 6 (EWF-E01)",
            "media_size": size,
            "bytes_per_sector": handle.get_bytes_per_sector(),
            "number_of_sectors": handle.get_number_of_sectors(),
            "stored_media_md5": stored["MD5"],
            "stored_media_sha1": stored.get("SHA1"),
        }
    finally:
        handle.close()
    if len(media) != size:
        raise SystemExit("short read from E01")
    if hashlib.md5(media).hexdigest() != stored["MD5"]:
        raise SystemExit("E01 media MD5 does not match the stored MD5")
    if "SHA1" in stored and hashlib.sha1(media).hexdigest() != stored["SHA1"]:
        raise SystemExit("E01 media SHA-1 does not match the stored SHA-1")
    details["computed_media_sha256"] = hashlib.sha256(media).hexdigest()
    acquired = datetime.strptime(headers["acquiry_date"], "%a %b %d %H:%M:%S %Y").replace(
        tzinfo=UTC
    )
    details["headers"] = {
        "case_number": headers.get("case_number"),
        "description": headers.get("description"),
        "examiner_name": headers.get("examiner_name"),
        "evidence_number": headers.get("evidence_number"),
        "notes": headers.get("notes"),
        "acquiry_date_utc": acquired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "acquiry_operating_system": headers.get("acquiry_operating_system"),
        "acquiry_software": "ewfacquire (libewf)",
        "acquiry_software_version": headers.get("acquiry_software_version"),
    }
    details["partition"] = {
        "scheme": "MBR",
        "type": "0x01 FAT12",
        "start_lba": 2048,
        "sectors": 2048,
        "volume_label": "WS-0117",
        "volume_serial": "7F3A-2026",
    }
    details["known_media_offsets"] = {
        key: offsets(media, needle) for key, needle in MEDIA_MARKERS.items()
    }
    # start offsets of byte-identical copies of ransom-note.txt
    details["known_media_offsets"]["ransom_note_copies"] = offsets(media, note)
    return details, media


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    examples = (
        Path(argv[1]) if len(argv) > 1 else here.parent.parent / "src" / "rogatory" / "examples"
    )
    entries = []
    for name, meta in FILES.items():
        path = examples / name
        entry = {
            "name": name,
            "size": path.stat().st_size,
            **file_hashes(path),
            "media_type": meta["media_type"],
            "description": meta["description"],
        }
        data = path.read_bytes()
        if name.endswith(".E01"):
            entry["ewf"], data = ewf_details(path, (examples / "ransom-note.txt").read_bytes())
        check_indicators(name, data, meta["indicators"])
        entry["indicators"] = meta["indicators"]
        entries.append(entry)
    manifest = {
        "about": "Fictional example evidence made by the Rogatory project for demos and tests. "
        "No real people, organisations, addresses, wallets or services. "
        "See README.md in this folder; regenerate with tools/make_examples/.",
        "case": CASE,
        "files": entries,
    }
    out = examples / "manifest.json"
    out.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
