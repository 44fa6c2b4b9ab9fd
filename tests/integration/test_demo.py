"""rogatory demo: the README's first command, on the shipped examples and on the shared samples."""

from __future__ import annotations

import json
from pathlib import Path

from rogatory.cli.demo import example_files


def test_shipped_examples_match_their_manifest() -> None:
    import hashlib

    files = example_files()
    manifest = json.loads((files[0].parent / "manifest.json").read_text())
    entries = {e["name"]: e for e in manifest["files"]}
    assert {f.name for f in files} == set(entries)
    for f in files:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == entries[f.name]["sha256"]


def test_demo_runs_end_to_end_and_can_be_rerun(cli, tmp_path: Path) -> None:
    d = tmp_path / "demo"
    r = cli("demo", "--dir", str(d))
    assert r.code == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout
    assert (d / "NL-2026-RANSOM-0042.sha256").exists()
    assert "media hash stored at acquisition matches" in r.stdout
    again = cli("demo", "--dir", str(d))
    assert again.code == 0 and "reusing the existing demo" in again.stdout
    fresh = cli("demo", "--dir", str(d), "--fresh")
    assert fresh.code == 0


def test_demo_refuses_a_foreign_folder(cli, tmp_path: Path) -> None:
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.docx").write_text("do not delete")
    r = cli("demo", "--dir", str(d))
    assert r.code == 2 and "not a Rogatory demo folder" in r.stderr
    assert (d / "thesis.docx").exists()


def test_demo_on_the_shared_samples(cli, tmp_path: Path, shared: Path) -> None:
    r = cli("demo", "--dir", str(tmp_path / "demo"), "--evidence", str(shared / "evidence-samples"))
    assert r.code == 0, r.stdout + r.stderr
