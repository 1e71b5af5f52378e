"""A weekly calendar in a time zone, with holidays: used for team business hours (SLA clocks and
the "inside business hours" rule condition) and for each agent's working schedule."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A wall-clock time without an offset ("09:00", "17:30:00"). JSON Schema's "time" format is RFC 3339's
# full-time, which requires one, so the schema says what is really sent and accepted.
LocalTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "Local time of day, HH:MM or HH:MM:SS, without an offset",
        }
    ),
]


class Interval(BaseModel):
    """A working interval within one day, local time; ``end`` may be 24:00 written as ``00:00``."""

    model_config = ConfigDict(frozen=True)

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end != time(0, 0) and self.end <= self.start:
            raise ValueError(f"interval end {self.end} must be after its start {self.start}")
        return self


class WeeklySchedule(BaseModel):
    """``{"timezone": "Europe/Berlin", "days": {"mon": [{"start": "09:00", "end": "17:00"}]}}``.

    A day missing from ``days`` is closed. ``holidays`` are closed all day (local dates)."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "UTC"
    days: dict[str, list[Interval]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value

    @field_validator("days")
    @classmethod
    def _known_days(cls, value: dict[str, list[Interval]]) -> dict[str, list[Interval]]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}: use {', '.join(WEEKDAYS)}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


ALWAYS_OPEN = WeeklySchedule(
    timezone="UTC", days={day: [Interval(start=time(0, 0), end=time(0, 0))] for day in WEEKDAYS}
)
