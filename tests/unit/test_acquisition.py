import datetime as dt

import pytest

from rogatory.errors import UsageError
from rogatory.evidence.acquisition import Acquisition, parse_utc

FIELDS = dict(
    acquired_by="Insp. A",
    acquired_at=None,
    location="Lab",
    source_device="Disk S/N 1",
    method="physical",
    tool="ewfacquire 20140813",
)


def test_missing_required_fields_are_all_named() -> None:
    with pytest.raises(UsageError) as exc:
        Acquisition.create(**{**FIELDS, "acquired_by": None, "tool": " "})
    assert "--acquired-by" in exc.value.message and "--tool" in exc.value.message
    assert "--location" not in exc.value.message


def test_default_time_is_now_utc() -> None:
    now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    a = Acquisition.create(**FIELDS, now=now)
    assert a.acquired_at == now
    assert a.as_dict()["acquired_at"] == "2026-11-30T09:00:00+00:00"


def test_offset_times_are_converted_to_utc() -> None:
    assert parse_utc("2026-11-30T10:15:00+01:00") == dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC)
    assert parse_utc("2026-11-30T09:15:00Z").tzinfo == dt.UTC


def test_naive_time_is_refused() -> None:
    with pytest.raises(UsageError, match="no UTC offset"):
        parse_utc("2026-11-30T09:15:00")


def test_future_time_is_refused() -> None:
    now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    with pytest.raises(UsageError, match="in the future"):
        Acquisition.create(**{**FIELDS, "acquired_at": "2026-12-01T00:00:00Z"}, now=now)


def test_unknown_method_and_versionless_tool() -> None:
    with pytest.raises(UsageError, match="unknown acquisition method"):
        Acquisition.create(**{**FIELDS, "method": "magic"})
    with pytest.raises(UsageError, match="does not give a version"):
        Acquisition.create(**{**FIELDS, "tool": "FTK Imager"})
