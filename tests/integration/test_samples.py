"""Real input: every file of ../shared/evidence-samples against its independently computed hashes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rogatory.cases import open_case
from rogatory.evidence import Acquisition, IntakeOptions, take_in
from rogatory.evidence.blobstore import BlobStore
from rogatory.evidence.records import (
    checksum_manifest,
    get_item,
    item_detail,
    list_items,
    verify_items,
)
from rogatory.node.home import NodeHome
from rogatory.store.database import Database

CASE = "SAMPLES-1"


@pytest.fixture
def manifest(shared: Path) -> dict:
    return json.loads((shared / "evidence-samples" / "manifest.json").read_text())


def _acq() -> Acquisition:
    return Acquisition.create(
        acquired_by="Test examiner",
        acquired_at=None,
        location="CI",
        source_device="shared/evidence-samples",
        method="copy",
        tool="pytest 8",
    )


@pytest.mark.parametrize("in_place", [False, True])
def test_every_sample_matches_its_manifest(
    home: NodeHome, shared: Path, manifest: dict, in_place: bool
) -> None:
    db = Database(home.database_url)
    with db.session() as s:
        open_case(s, CASE, "Sample evidence", [], "CLEAR")
    folder = shared / "evidence-samples"
    paths = [folder / f["name"] for f in manifest["files"]]
    outcomes = take_in(
        db,
        home.blob_dir,
        CASE,
        paths,
        _acq(),
        IntakeOptions(["sha256", "sha1", "md5"], in_place=in_place),
    )
    assert all(o.status == "recorded" for o in outcomes), [o.error for o in outcomes if o.error]
    # the E02 segment is folded into the image-split.E01 item
    assert len(outcomes) == len(manifest["files"]) - 1

    with db.session() as s:
        files: dict[str, dict] = {}
        ewf: dict[str, dict] = {}
        for row in list_items(s, CASE):
            d = item_detail(get_item(s, f"EV-{row.id}"))
            for f in d["file_list"]:
                files[f["path"]] = f
            if d["ewf"]:
                ewf[d["label"]] = d["ewf"]
    for entry in manifest["files"]:
        got = files[entry["name"]]
        assert got["size"] == entry["size"], entry["name"]
        for alg in ("sha256", "sha1", "md5"):
            assert got[alg] == entry[alg], (entry["name"], alg)
        if "embedded_media_md5" in entry:
            e = ewf[entry["name"]]
            assert e["stored_hashes"]["md5"] == entry["embedded_media_md5"]
            assert e["media_verified"] is True
            assert e["media_size"] == entry["media"]["size"]
            for alg in ("md5", "sha1", "sha256"):
                assert e["computed_hashes"][alg] == entry["media"][alg], (entry["name"], alg)
    assert ewf["image.E01"]["header"]["examiner_name"] == "John Doe"
    assert ewf["image.E01"]["header"]["case_number"] == "PyVFS"
    assert ewf["image-split.E01"]["segments"] == ["image-split.E01", "image-split.E02"]

    store = BlobStore(home.blob_dir)
    with db.session() as s:
        report = verify_items(s, list_items(s, CASE), store)
        assert report.ok and report.files == len(manifest["files"])
        for algorithm, tool in (("sha256", "sha256sum"), ("md5", "md5sum")):
            text = checksum_manifest(list_items(s, CASE), store, algorithm, "source")
            if shutil.which(tool):
                res = subprocess.run(
                    [tool, "-c", "--strict", "-"], input=text, capture_output=True, text=True
                )
                assert res.returncode == 0, res.stdout + res.stderr
    db.close()


def test_split_image_without_its_second_segment_is_refused(
    sqlite_home: NodeHome, shared: Path, tmp_path: Path
) -> None:
    lone = tmp_path / "image-split.E01"
    shutil.copy(shared / "evidence-samples" / "image-split.E01", lone)
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    [o] = take_in(db, sqlite_home.blob_dir, CASE, [lone], _acq(), IntakeOptions(["sha256"]))
    assert o.status == "failed"
    assert "incomplete or damaged" in (o.error or "") and "keep all segments" in (o.error or "")
    with db.session() as s:
        assert list_items(s, CASE) == []
    db.close()


def test_expected_media_md5_of_an_e01(sqlite_home: NodeHome, shared: Path) -> None:
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    e01 = shared / "evidence-samples" / "ext2.E01"
    [bad] = take_in(
        db,
        sqlite_home.blob_dir,
        CASE,
        [e01],
        _acq(),
        IntakeOptions(["sha256"], expect={"md5": "1" * 32}),
    )
    assert bad.status == "failed" and "EWF media" in (bad.error or "")
    [ok] = take_in(
        db,
        sqlite_home.blob_dir,
        CASE,
        [e01],
        _acq(),
        IntakeOptions(["sha256"], expect={"md5": "196066add11fb71c4c49cf1bb50d6d24"}),
    )
    assert ok.status == "recorded"
    db.close()


def test_damaged_e01_is_recorded_with_a_media_mismatch_warning(
    sqlite_home: NodeHome, shared: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.E01"
    data = bytearray((shared / "evidence-samples" / "ext2.E01").read_bytes())
    data[3000] ^= 0xFF  # inside a compressed data chunk
    damaged.write_bytes(bytes(data))
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    [o] = take_in(db, sqlite_home.blob_dir, CASE, [damaged], _acq(), IntakeOptions(["sha256"]))
    assert o.status == "recorded"
    assert o.warnings and "does NOT match" in o.warnings[0]
    with db.session() as s:
        assert item_detail(get_item(s, o.item or ""))["ewf"]["media_verified"] is False
    db.close()


def test_e01_with_a_damaged_section_header_is_refused(
    sqlite_home: NodeHome, shared: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.E01"
    data = bytearray((shared / "evidence-samples" / "ext2.E01").read_bytes())
    data[11000] ^= 0xFF  # inside a section descriptor: libewf's Adler-32 check fails at open
    damaged.write_bytes(bytes(data))
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    [o] = take_in(db, sqlite_home.blob_dir, CASE, [damaged], _acq(), IntakeOptions(["sha256"]))
    assert o.status == "failed" and "libewf cannot open" in (o.error or "")
    db.close()


def test_ewf_header_dates_are_recorded_in_utc_whatever_the_local_zone(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from rogatory.evidence import ewf

    e01 = shared / "evidence-samples" / "image.E01"
    results = []
    for tz in ("UTC", "Europe/Amsterdam", "America/Sao_Paulo"):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        results.append(ewf.read_info([e01]).header["acquiry_date_utc"])
    monkeypatch.delenv("TZ")
    time.tzset()
    assert results == ["2013-12-10T11:28:38+00:00"] * 3


def test_a_later_segment_alone_is_refused(sqlite_home: NodeHome, shared: Path) -> None:
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    [o] = take_in(
        db,
        sqlite_home.blob_dir,
        CASE,
        [shared / "evidence-samples" / "image-split.E02"],
        _acq(),
        IntakeOptions(["sha256"]),
    )
    assert (
        o.status == "failed"
        and "later segment of an EWF image" in (o.error or "")
        and ".E01" in (o.error or "")
    )
    db.close()


def test_verify_rechecks_ewf_media(sqlite_home: NodeHome, shared: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.E01"
    data = bytearray((shared / "evidence-samples" / "ext2.E01").read_bytes())
    data[3000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    outs = take_in(
        db,
        sqlite_home.blob_dir,
        CASE,
        [damaged, shared / "evidence-samples" / "image.E01"],
        _acq(),
        IntakeOptions(["sha256"]),
    )
    assert [o.status for o in outs] == ["recorded", "recorded"]
    assert "media MD5 = stored in image" in outs[1].checks
    with db.session() as s:
        report = verify_items(s, list_items(s, CASE), BlobStore(sqlite_home.blob_dir))
    assert [(f.item, f.problem) for f in report.findings] == [(outs[0].item, "media")]
    assert "the image is damaged" in report.findings[0].detail
    db.close()


def test_incomplete_split_set_is_refused_even_without_media_verify(
    sqlite_home: NodeHome, shared: Path, tmp_path: Path
) -> None:
    lone = tmp_path / "image-split.E01"
    shutil.copy(shared / "evidence-samples" / "image-split.E01", lone)
    db = Database(sqlite_home.database_url)
    with db.session() as s:
        open_case(s, CASE, "x", [], "CLEAR")
    [o] = take_in(
        db,
        sqlite_home.blob_dir,
        CASE,
        [lone],
        _acq(),
        IntakeOptions(["sha256"], verify_media=False),
    )
    assert o.status == "failed" and "incomplete or damaged" in (o.error or "")
    db.close()
