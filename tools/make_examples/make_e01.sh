#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the fictional "workstation.E01" example shipped with Rogatory.
#
# 1. Make a 2 MiB raw "disk" for workstation WS-0117 (192.0.2.40) of the
#    fictional victim: an MBR with one FAT12 partition at LBA 2048, holding a
#    small user profile as the (fictional) BLEAKTIDE ransomware left it:
#    encrypted *.bleak files, two copies of the ransom note, an inert dropper
#    script, the encryptor's log, and one deleted file whose bytes remain in
#    unallocated clusters. A marker string sits in the unpartitioned gap at
#    byte offset 65536.
# 2. Acquire it with ewfacquire (EnCase 6 format, deflate best, MD5 + SHA-1).
# 3. Verify the image with ewfverify and show ewfinfo.
#
# The raw media is deterministic (fixed volume ID, fixed timestamps, filler
# bytes from SHAKE-256), so its MD5 is the same on every run. The E01 file
# itself differs between runs because ewfacquire records the acquisition
# date and the system it ran on.
#
# Needs: bash, python3, dosfstools (mkfs.fat), mtools, ewf-tools.
# Usage: tools/make_examples/make_e01.sh [OUTPUT_DIR]
#        (default OUTPUT_DIR: src/rogatory/examples; ransom-note.txt must
#        already be there)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/src/rogatory/examples}
note=$out/ransom-note.txt
[ -f "$note" ] || { echo "missing $note" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# FAT stores local time; fix the zone so timestamps are reproducible.
export TZ=Europe/Amsterdam LC_ALL=C MTOOLS_SKIP_CHECK=1
raw=$work/ws-0117.raw
part="$raw@@1M"          # mtools: the FAT volume starts 1 MiB into the disk

# --- 1. raw media -----------------------------------------------------------

truncate -s 2M "$raw"
mkfs.fat -F 12 -s 1 -h 2048 --invariant -i 7F3A2026 -n WS-0117 --offset=2048 "$raw" 1024 >/dev/null

# MBR: disk signature, one partition (type 0x01 FAT12, LBA 2048, 2048 sectors),
# and a marker string in the unpartitioned gap.
python3 - "$raw" <<'PY'
import struct, sys

def chs(lba, heads=16, sectors=63):
    c, rem = divmod(lba, heads * sectors)
    h, s = divmod(rem, sectors)
    return bytes([h, ((c >> 2) & 0xC0) | (s + 1), c & 0xFF])

start, count = 2048, 2048
entry = b"\x00" + chs(start) + b"\x01" + chs(start + count - 1) + struct.pack("<II", start, count)
with open(sys.argv[1], "r+b") as disk:
    disk.seek(0x1B8)
    disk.write(struct.pack("<I", 0x20261113) + b"\x00\x00" + entry + b"\x00" * 48 + b"\x55\xAA")
    disk.seek(65536)
    disk.write(b"ROGATORY-DEMO-MARKER unpartitioned-gap offset=65536 case=NL-2026-RANSOM-0042\n")
PY

# Source files, with the timestamps they should carry on the volume.
src=$work/src
mkdir -p "$src"

filler() {  # filler FILE LABEL LENGTH  -> LENGTH deterministic bytes + ransomware footer
  python3 - "$@" <<'PY'
import hashlib, sys
path, label, length = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = hashlib.shake_256(b"rogatory-demo-e01:" + label.encode()).digest(length)
footer = b"BLEAKTIDE\x00VBL-2026-1113-7F3A\x00" + hashlib.sha256(label.encode()).digest()
open(path, "wb").write(body + footer)
PY
}

filler "$src/route-planning-2026-Q4.xlsx.bleak" route-planning 6144
filler "$src/invoices-oct-2026.pdf.bleak" invoices 4608
filler "$src/notes-meeting-2026-11-10.txt.bleak" notes 1536
touch -d "2026-11-13 03:24:41" "$src/route-planning-2026-Q4.xlsx.bleak"
touch -d "2026-11-13 03:24:49" "$src/invoices-oct-2026.pdf.bleak"
touch -d "2026-11-13 03:24:53" "$src/notes-meeting-2026-11-10.txt.bleak"

cp "$note" "$src/README-RESTORE.txt"
touch -d "2026-11-13 03:25:10" "$src/README-RESTORE.txt"

cat > "$src/svcupd.ps1" <<'EOF'
# svcupd.ps1 -- dropper left on WS-0117 (Rogatory demo artefact, fictional and inert)
# Downloaded from http://update.example.net/d/bt.bin (198.51.100.23)
$src  = 'http://198.51.100.23/d/bt.bin'
$dst  = "$env:LOCALAPPDATA\Temp\bt.exe"
$id   = 'VBL-2026-1113-7F3A'
$note = 'README-RESTORE.txt'
# [download, execution and persistence lines removed: this is demo material]
EOF
touch -d "2026-11-13 03:21:05" "$src/svcupd.ps1"

cat > "$src/bt.log" <<'EOF'
2026-11-13 03:24:38 start id=VBL-2026-1113-7F3A mode=local ext=.bleak
2026-11-13 03:24:38 skip C:\Windows
2026-11-13 03:24:41 enc C:\Users\planning01\Documents\route-planning-2026-Q4.xlsx ok
2026-11-13 03:24:49 enc C:\Users\planning01\Documents\invoices-oct-2026.pdf ok
2026-11-13 03:24:53 enc C:\Users\planning01\Documents\notes-meeting-2026-11-10.txt ok
2026-11-13 03:25:10 note C:\Users\planning01\Documents\README-RESTORE.txt
2026-11-13 03:25:10 note C:\Users\planning01\Desktop\README-RESTORE.txt
2026-11-13 03:25:12 done files=3 errors=0 report=http://198.51.100.23/r
EOF
touch -d "2026-11-13 03:25:12" "$src/bt.log"

cat > "$src/exfil-list.txt" <<'EOF'
# staged for upload to upload.example.net (198.51.100.23) -- deleted after use
ROGATORY-DEMO-MARKER deleted-file exfil-list.txt
C:\Users\planning01\Documents\route-planning-2026-Q4.xlsx
C:\Users\planning01\Documents\invoices-oct-2026.pdf
C:\Users\planning01\Documents\notes-meeting-2026-11-10.txt
\\fs01\finance\
\\fs01\hr\
EOF
touch -d "2026-11-13 03:21:40" "$src/exfil-list.txt"

# Directory tree (creation time from SOURCE_DATE_EPOCH: 2026-03-02 09:14:00 CET).
home=::/Users/planning01
SOURCE_DATE_EPOCH=$(date -d "2026-03-02 09:14:00" +%s) \
  mmd -i "$part" ::/Users "$home" "$home/Desktop" "$home/Documents" \
      "$home/AppData" "$home/AppData/Local" "$home/AppData/Local/Temp"

tmp=$home/AppData/Local/Temp
mcopy -m -i "$part" "$src/svcupd.ps1" "$tmp/svcupd.ps1"
mcopy -m -i "$part" "$src/exfil-list.txt" "$tmp/exfil-list.txt"
mcopy -m -i "$part" "$src/route-planning-2026-Q4.xlsx.bleak" "$src/invoices-oct-2026.pdf.bleak" \
      "$src/notes-meeting-2026-11-10.txt.bleak" "$home/Documents/"
mcopy -m -i "$part" "$src/README-RESTORE.txt" "$home/Documents/README-RESTORE.txt"
mcopy -m -i "$part" "$src/README-RESTORE.txt" "$home/Desktop/README-RESTORE.txt"
mcopy -m -i "$part" "$src/bt.log" "$tmp/bt.log"
# delete the staging list: its directory entry is marked 0xE5, its data stays
mdel -i "$part" "$tmp/exfil-list.txt"

echo "== volume contents"
mdir -/ -i "$part" ::/
echo "== raw media"
md5sum "$raw"
sha1sum "$raw"
python3 - "$raw" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
for marker in (b"ROGATORY-DEMO-MARKER unpartitioned-gap", b"ROGATORY-DEMO-MARKER deleted-file",
               b"YOUR NETWORK HAS BEEN ENCRYPTED", b"BLEAKTIDE\x00VBL-2026-1113-7F3A"):
    hits, pos = [], data.find(marker)
    while pos >= 0:
        hits.append(pos)
        pos = data.find(marker, pos + 1)
    print(f"offsets of {marker!r}: {hits}")
PY

# --- 2. acquisition ----------------------------------------------------------

# Run in UTC: the EWF "header" section stores the acquisition date as local
# time without a zone, so UTC keeps every reader's rendering unambiguous.
rm -f "$out/workstation.E01"
TZ=UTC ewfacquire -u -q \
  -t "$out/workstation" \
  -C "NL-2026-RANSOM-0042" \
  -D "Workstation WS-0117 (192.0.2.40), 2 MiB demo disk, fictional" \
  -e "Insp. J. de Vries (fictional)" \
  -E "EXH-001" \
  -N "Fictional demo evidence made by the Rogatory project. Not real data." \
  -f encase6 -c deflate:best -d sha1 \
  -m fixed -M physical -P 512 -b 64 \
  -l "$work/acquire.log" \
  "$raw"
cat "$work/acquire.log"

# --- 3. verification ---------------------------------------------------------

ewfverify -q -d sha1 "$out/workstation.E01"
TZ=UTC ewfinfo "$out/workstation.E01"
