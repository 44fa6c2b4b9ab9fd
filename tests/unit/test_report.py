"""The court-facing verification report: HTML and PDF renderings of a PackageReport."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rogatory.package import report as rep
from rogatory.package.report import render_html, render_pdf, write_report
from rogatory.package.report_model import CheckResult, CustodyStep, ItemReport, PackageReport

FILE_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
EWF_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PKG_SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
MEDIA_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MEDIA_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"

HOSTILE_LABEL = "<script>alert(1)</script> & \"quoted\" 'ímynd.dd'"
BIDI_NAME = "invoice\u202egpj.exe"


def _custody_checks(ok: bool = True) -> list[CheckResult]:
    return [
        CheckResult(
            "signature", True, "The event's Ed25519 signature verifies under the node key."
        ),
        CheckResult("commitment", True, "The event commits to the item's SHA-256."),
        CheckResult(
            "inclusion proof", True, "The RFC 9162 inclusion proof leads to the checkpoint root."
        ),
        CheckResult("checkpoint signature", True, "The checkpoint is signed by the log's key."),
        CheckResult(
            "witness quorum",
            ok,
            "2 of 2 required witnesses cosigned the checkpoint."
            if ok
            else "Only 1 of 2 required witnesses cosigned the checkpoint.",
        ),
    ]


def _step(
    index: int,
    time: str,
    event: str,
    actor: str,
    role: str,
    node: str,
    purpose: str,
    note: str = "",
) -> CustodyStep:
    return CustodyStep(
        index=index,
        origin=f"rogatory/{node}/custody",
        time=time,
        event_type=event,
        actor=actor,
        role=role,
        node=node,
        purpose=purpose,
        note=note,
        checks=_custody_checks(),
        provably_logged_by=time[:14] + "59:00Z",
        cosigned_by={
            "witness.polizei.example.de": time[:14] + "58:12Z",
            "witness.pf.example.br": time[:14] + "58:40Z",
        },
    )


def sample_report() -> PackageReport:
    """Two items (a file and an EWF image); all checks pass; hostile strings in places."""
    file_item = ItemReport(
        item_id="EV-000001",
        label=HOSTILE_LABEL,
        kind="file",
        size=4_194_304,
        sha256=FILE_SHA256,
        sha1="a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        md5="098f6bcd4621d373cade4e832627b4f6",
        acquisition={
            "acquired_by": "Insp. Ana Souza, cybercrime unit, Polícia Federal",
            "acquired_at": "2026-03-02T09:15:00+00:00",
            "location": "São Paulo, Rua da Consolação 100 & annex",
            "source_device": "Dell Latitude 7420, S/N 9XK2-東京",
            "method": "logical",
            "tool": "FTK Imager 4.7.1",
            "notes": "Seized under warrant.\nDevice was powered off; <b>not</b> booted.",
            "source_ids": ["MAC 00:11:22:33:44:55", "IMEI 490154203237518"],
            "exhibit_number": "PF-2026-0042/3",
            "authority": "Warrant 0012345-67.2026.4.03.6181",
        },
        ewf=None,
        checks=[
            CheckResult(
                "payload decrypted", True, "The age payload decrypted with the recipient key."
            ),
            CheckResult(
                "every byte re-hashed",
                True,
                f"SHA-256 of 4194304 bytes is {FILE_SHA256}, as recorded.",
            ),
        ],
        custody=[
            _step(
                11,
                "2026-03-02T09:20:00Z",
                "acquisition",
                "Insp. Ana Souza",
                "investigator",
                "pf-br",
                "Warrant 0012345-67.2026.4.03.6181",
            ),
            _step(
                12,
                "2026-03-03T14:02:10Z",
                "verification",
                "Dr. 東京 Tanaka",
                "expert",
                "pf-br",
                "quality control",
                note="Re-hashed; matches <script>x</script>",
            ),
            _step(
                13,
                "2026-03-04T08:00:00Z",
                "transfer-out",
                "Central Authority BR",
                "central authority",
                "pf-br",
                "MLA request DE-2026-17 under Budapest Convention Art. 25",
            ),
        ],
    )
    ewf_item = ItemReport(
        item_id="EV-000002",
        label="workstation.E01",
        kind="ewf",
        size=123_456_789,
        sha256=EWF_SHA256,
        sha1="",
        md5="",
        acquisition={
            "acquired_by": "KOK Jan Weber, BKA SO4",
            "acquired_at": "2026-02-27T16:40:00+00:00",
            "location": "Wiesbaden, Thaerstraße 11",
            "source_device": "Samsung SSD 870 EVO 500GB, S/N S5Y1NX0R123456",
            "method": "physical",
            "tool": "ewfacquire 20140813",
            "notes": "",
            "source_ids": [],
            "exhibit_number": "",
            "authority": "",
            "chain_ref": "custom field from a newer sender",
        },
        ewf={
            "segments": ["workstation.E01", "workstation.E02"],
            "media_size": 500_107_862_016,
            "stored_hashes": {"md5": MEDIA_MD5, "sha1": MEDIA_SHA1},
            "computed_hashes": {"md5": MEDIA_MD5, "sha1": MEDIA_SHA1, "sha256": EWF_SHA256},
            "media_verified": True,
            "header": {
                "case_number": "BKA-2026-117",
                "examiner_name": "Weber",
                "evidence_number": "A-3",
                "acquiry_date": "Fri Feb 27 17:40:00 2026",
                "acquiry_date_utc": "2026-02-27T16:40:00+00:00",
                "acquiry_software_version": "20140813",
            },
        },
        checks=[
            CheckResult(
                "payload decrypted", True, "The age payload decrypted with the recipient key."
            ),
            CheckResult("every byte re-hashed", True, "SHA-256 of the two segments matches."),
            CheckResult(
                "EWF media hash", True, "A fresh read reproduced the stored MD5 and SHA-1."
            ),
        ],
        custody=[
            _step(
                3,
                "2026-02-27T16:45:00Z",
                "acquisition",
                "KOK Jan Weber",
                "investigator",
                "bka-de",
                "§ 94 StPO seizure order",
            ),
            _step(
                4,
                "2026-03-01T10:00:00Z",
                "export",
                "KOK Jan Weber",
                "investigator",
                "bka-de",
                "Spontaneous information, Budapest Convention Art. 26",
            ),
        ],
    )
    return PackageReport(
        package_file="DE-2026-17 evidence ímynd & co.rogpkg",
        package_sha256=PKG_SHA256,
        package_id="6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b",
        created_at="2026-03-04T08:05:00Z",
        sender={"node_id": "pf-br", "agency": "Polícia Federal — DCIBER", "country": "BR"},
        recipient="Bundeskriminalamt SO4 <bka-de>",
        case='PF-2026/0042 "Operação Tóquio" 東京',
        handling_code="TLP:AMBER",
        trust_basis="trust file peers.toml, entry pf-br, key fingerprint SHA256:q1w2e3r4t5y6u7i8o9p0",
        verified_at="2026-03-05T11:30:00Z",
        verifier="rogatory 0.1.0",
        custody_only=False,
        checks=[
            CheckResult(
                "manifest signature", True, "The manifest's signature verifies under pf-br's key."
            ),
            CheckResult("recipient", True, "The package is addressed to this node."),
            CheckResult("structure", True, "Every file listed in the manifest is present."),
        ],
        items=[file_item, ewf_item],
    )


def failing_report() -> PackageReport:
    r = copy.deepcopy(sample_report())
    r.items[1].checks[2] = CheckResult(
        "EWF media hash",
        False,
        f"The image stores MD5 {MEDIA_MD5} but a fresh read gives 0123456789abcdef.",
    )
    r.items[1].ewf = dict(r.items[1].ewf or {}, media_verified=False)
    r.items[0].custody[2].checks = _custody_checks(ok=False)
    return r


def _pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
        )
        return out.stdout.decode("utf-8")
    pypdf = pytest.importorskip("pypdf", reason="neither pdftotext (poppler-utils) nor pypdf")
    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(str(path)).pages)


def _assert_pdf_file(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    return data


# --------------------------------------------------------------------------- HTML


def test_html_passing_report_has_verdict_hashes_events_and_checks() -> None:
    r = sample_report()
    doc = render_html(r).replace("<wbr>", "")  # times may wrap before their "T"
    assert doc.startswith("<!DOCTYPE html>")
    assert rep.PASSED_HEADLINE in doc
    assert "VERIFICATION FAILED" not in doc
    for item in r.items:
        assert item.sha256 in doc
        for step in item.custody:
            assert step.time in doc and step.event_type in doc
            for w, t in step.cosigned_by.items():
                assert w in doc and t in doc
        for c in item.checks:
            assert c.name in doc
    for c in r.checks:
        assert c.name in doc and html_escape(c.detail) in doc
    assert PKG_SHA256 in doc and MEDIA_MD5 in doc and MEDIA_SHA1 in doc
    assert "4\u00a0194\u00a0304 bytes (4.0\u00a0MiB)" in doc
    assert "TLP:AMBER — limited disclosure" in doc
    assert "BR — Brazil" in doc
    assert "Provably logged by" in doc and "witness cosignature" in doc.lower()
    assert "they do not vouch that what the event records is true" in doc
    assert "Verified at 2026-03-05T11:30:00Z (UTC) with rogatory 0.1.0" in doc
    # plain-words acquisition sentence and the EWF fresh-read result
    assert (
        "Acquired by KOK Jan Weber, BKA SO4; on 2026-02-27T16:40:00+00:00 (UTC); at Wiesbaden"
        in doc
    )
    assert "physical acquisition (a bit-for-bit image" in doc
    assert "reproduced every stored hash" in doc
    assert "Chain ref" in doc  # unknown acquisition fields are shown, not dropped


def html_escape(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def test_html_is_self_contained() -> None:
    doc = render_html(sample_report())
    assert "<script" not in doc.lower()
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", doc, re.IGNORECASE)
    assert "@page { size: A4" in doc


def test_html_escapes_hostile_strings() -> None:
    r = sample_report()
    r.items[1].label = BIDI_NAME
    r.sender["agency"] = "\x00evil\x1b[2J"
    r.items[0].custody[0].actor = "x\udcffy"  # lone surrogate from a badly decoded name
    doc = render_html(r)
    assert "<script>" not in doc and "</script>" not in doc
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#x27;ímynd.dd&#x27;" in doc
    )
    assert "&lt;b&gt;not&lt;/b&gt;" in doc
    assert "São Paulo, Rua da Consolação 100 &amp; annex" in doc
    assert "東京" in doc
    # hidden characters are shown, never obeyed
    assert "\u202e" not in doc and "invoice" in doc and "[U+202E]" in doc
    assert "\x00" not in doc and "\x1b" not in doc and "[U+0000]" in doc
    doc.encode("utf-8")  # no lone surrogate survives


def test_html_failing_report_names_failed_checks_first() -> None:
    doc = render_html(failing_report())
    verdict_at = doc.index("VERIFICATION FAILED")
    assert verdict_at < doc.index("What was received")
    headline = doc[verdict_at : doc.index("</p>", verdict_at)]
    assert "2 of 33 checks failed" in headline
    # failures are named in package order: item 1's custody, then item 2
    assert 0 < headline.index("witness quorum") < headline.index("EWF media hash")
    failed = doc[doc.index('id="failed"') : doc.index('id="received"')]
    assert "Only 1 of 2 required witnesses" in failed and "fresh read gives" in failed
    assert "custody event 3 of 3 (transfer-out, log entry 13)" in failed
    assert rep.PASSED_HEADLINE not in doc
    assert "did NOT reproduce the stored hash" in doc


def test_verdict_variants() -> None:
    r = sample_report()
    r.custody_only = True
    for item in r.items:
        item.checks = []
    assert rep.CUSTODY_ONLY_HEADLINE in render_html(r)
    empty = copy.deepcopy(r)
    empty.checks, empty.items = [], []
    assert "VERIFICATION INCOMPLETE" in render_html(empty)
    many = failing_report()
    many.checks = [CheckResult(f"check {i}", False, "failed") for i in range(8)]
    assert "and 5 more" in render_html(many)


def test_human_size() -> None:
    assert rep.human_size(0) == "0 bytes"
    assert rep.human_size(1) == "1 byte"
    assert rep.human_size(1023) == "1\u00a0023 bytes"
    assert rep.human_size(1536) == "1\u00a0536 bytes (1.5\u00a0KiB)"
    assert rep.human_size(500_107_862_016).endswith("(465.8\u00a0GiB)")


# --------------------------------------------------------------------------- PDF


def test_pdf_is_valid_and_has_verdict_and_hashes(tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    render_pdf(sample_report(), out)
    _assert_pdf_file(out)
    text = _pdf_text(out)
    flat = re.sub(r"\s+", "", text)
    assert "All checks passed" in text
    assert re.sub(r"\s+", "", rep.PASSED_HEADLINE) in flat
    assert FILE_SHA256 in flat and EWF_SHA256 in flat and PKG_SHA256 in flat
    assert "page 1 of" in text
    assert "São Paulo" in text
    assert "<script>alert(1)</script>" in text  # shown literally, as text
    # a glyph the fonts lack is shown as its code point, or drawn when a CJK font exists
    assert "東京" in text or "[U+6771][U+4EAC]" in flat
    assert list(tmp_path.iterdir()) == [out]  # no temp file left behind


def test_pdf_failing_report(tmp_path: Path) -> None:
    out = tmp_path / "f.pdf"
    render_pdf(failing_report(), out)
    _assert_pdf_file(out)
    text = _pdf_text(out)
    first = text.index("VERIFICATION FAILED")
    assert first < text.index("What was received")
    assert "EWF media hash" in text[first : text.index("What was received")]
    assert "result: FAILED" in text  # on every page's footer


def test_pdf_survives_hostile_and_huge_values(tmp_path: Path) -> None:
    r = sample_report()
    r.items[0].acquisition["notes"] = "Ω<&>" * 9000 + "\x00\u202e"
    r.items[0].custody[1].note = "a" * 6000  # one unbreakable word in a narrow column
    r.items[0].custody[0].actor = "x\udcffy ]]> </para> <font name='nope'>"
    r.items[1].label = BIDI_NAME + " 한국어 😀"
    r.package_id = "</para>" * 40
    out = tmp_path / "h.pdf"
    render_pdf(r, out)
    _assert_pdf_file(out)
    text = _pdf_text(out)
    assert "further characters are not shown here" in text
    assert "[U+202E]" in text


def test_pdf_helvetica_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rep, "_FONT_DIRS", ())
    monkeypatch.setattr(rep, "_FALLBACK_FONT_FILES", ())
    monkeypatch.setattr(rep, "_FONTS", None)
    out = tmp_path / "helv.pdf"
    render_pdf(failing_report(), out)
    _assert_pdf_file(out)
    text = _pdf_text(out)
    assert "VERIFICATION FAILED" in text and "São Paulo" in text  # Latin-1 kept
    assert "[U+6771]" in text and "FAILED" in text


def test_write_report_creates_directory_and_both_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "nested"
    html_path, pdf_path = write_report(failing_report(), target)
    assert html_path == target / "verification-report.html"
    assert pdf_path == target / "verification-report.pdf"
    assert "VERIFICATION FAILED" in html_path.read_text(encoding="utf-8")
    _assert_pdf_file(pdf_path)
    # rewriting replaces both, atomically, and leaves no temp files
    write_report(sample_report(), target)
    assert rep.PASSED_HEADLINE in html_path.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == [
        "verification-report.html",
        "verification-report.pdf",
    ]


def test_html_is_well_formed() -> None:
    from html.parser import HTMLParser

    void = {"meta", "br", "wbr", "col"}

    class Balance(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
            self.stack.pop()

    for r in (sample_report(), failing_report()):
        r.items[0].custody[0].note = "</td></tr></table><p>"
        parser = Balance()
        parser.feed(render_html(r))
        parser.close()
        assert parser.stack == []
