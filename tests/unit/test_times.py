"""The one place timestamps are formatted and read (knet.api.times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from knet.api.times import (
    micro_time,
    nano_time,
    now_rfc3339,
    parse_time,
    parse_time_or_none,
    rfc3339,
)


def test_trigger_times_round_trip_in_rfc3339_utc() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 250000, tzinfo=UTC)
    assert nano_time(moment) == "2026-03-04T05:06:07.25Z"
    assert nano_time(moment.replace(microsecond=0)) == "2026-03-04T05:06:07Z"
    assert parse_time_or_none(nano_time(moment)) == moment
    assert parse_time_or_none("yesterday") is None
    assert parse_time_or_none(None) is None


def test_micro_time_format() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 6007, tzinfo=UTC)
    assert micro_time(moment) == "2025-01-02T03:04:05.006007Z"
    assert micro_time(moment.timestamp()) == "2025-01-02T03:04:05.006007Z"


def test_rfc3339_takes_unix_times_and_datetimes_in_any_zone() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    east = datetime(2025, 1, 2, 5, 4, 5, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(east) == "2025-01-02T03:04:05Z"
    assert rfc3339(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"


def test_now_rfc3339_is_whole_seconds_utc() -> None:
    text = now_rfc3339()
    assert text.endswith("Z") and len(text) == len("2025-01-02T03:04:05Z")
    assert abs((parse_time(text) - datetime.now(UTC)).total_seconds()) < 5


def test_parse_time_reads_offsets_and_long_fractions() -> None:
    assert parse_time("2025-01-02T05:04:05+02:00") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2025-01-02t03:04:05.123456789z") == datetime(
        2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["yesterday", "2025-01-02", "2025-13-02T00:00:00Z", ""])
def test_parse_time_refuses_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
    assert parse_time_or_none(text) is None
