"""The admin pages' forms: from the submitted strings to the API's request bodies, and back.

Form values are kept as typed (strings), so a refused form is shown again exactly as sent, with the
messages at their fields. Compact text formats keep the forms plain HTML:

* hours, per weekday: ``09:00-12:00, 13:00-17:00`` (empty: closed);
* holidays: dates ``2026-12-25`` separated by commas or lines;
* out-of-office, one period a line: ``2026-12-24 09:00 / 2027-01-02 / replacement@acme.test`` (local
  time in the schedule's time zone, the replacement optional);
* SLA policies, one a line: ``standard | Standard | 60 | 1440 | business`` (id, name, first
  response minutes, resolution minutes, ``business`` hours or ``wall`` clock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailroom.domain.agent import OutOfOffice
from mailroom.domain.team import SlaPolicy, Team
from mailroom.org.models import MailboxOut, UserOut
from mailroom.schedule.model import WEEKDAYS, Interval, WeeklySchedule

Form = Mapping[str, list[str]]
_SPLIT = re.compile(r"[\s,;]+")
ACCESS_PREFIX = "access:"


def _one(form: Form, name: str) -> str:
    values = form.get(name) or [""]
    return values[-1]


def _words(text: str) -> list[str]:
    return [word for word in _SPLIT.split(text) if word]


def _opt(text: str) -> str | None:
    return text.strip() or None


# -- schedules ---------------------------------------------------------------------------------------


def hours_text(intervals: list[Interval]) -> str:
    return ", ".join(
        f"{i.start:%H:%M}-{'24:00' if i.end.hour == 0 and i.end.minute == 0 else f'{i.end:%H:%M}'}"
        for i in intervals
    )


def parse_hours(text: str) -> list[dict[str, str]]:
    intervals = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        start, _, end = part.partition("-")
        end = end.strip()
        intervals.append({"start": start.strip(), "end": "00:00" if end == "24:00" else end})
    return intervals


def schedule_values(schedule: WeeklySchedule | None) -> dict[str, str]:
    values = {"timezone": schedule.timezone if schedule else "UTC"}
    for day in WEEKDAYS:
        values[f"day_{day}"] = hours_text(schedule.days.get(day, [])) if schedule else ""
    values["holidays"] = ", ".join(d.isoformat() for d in schedule.holidays) if schedule else ""
    return values


def schedule_form_values(form: Form) -> dict[str, str]:
    values = {"timezone": _one(form, "timezone").strip() or "UTC", "holidays": _one(form, "holidays")}
    for day in WEEKDAYS:
        values[f"day_{day}"] = _one(form, f"day_{day}")
    return values


def schedule_payload(values: Mapping[str, Any]) -> dict[str, Any] | None:
    days = {
        day: parse_hours(values[f"day_{day}"]) for day in WEEKDAYS if values.get(f"day_{day}", "").strip()
    }
    holidays = _words(values.get("holidays", ""))
    if not days and not holidays:
        return None
    return {"timezone": values.get("timezone") or "UTC", "days": days, "holidays": holidays}


# -- out of office -----------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(text: str, zone: ZoneInfo) -> str:
    """``2026-12-24 09:00`` (or a date) in ``zone`` as ISO with its offset; anything else as is,
    for the model to refuse at the field."""
    text = text.strip()
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=zone).isoformat()
        except ValueError:
            continue
    return text


def absences_text(periods: list[OutOfOffice], zone_name: str) -> str:
    zone = _zone(zone_name)
    lines = []
    for period in periods:
        parts = [
            f"{period.start.astimezone(zone):%Y-%m-%d %H:%M}",
            f"{period.end.astimezone(zone):%Y-%m-%d %H:%M}",
        ]
        if period.replacement:
            parts.append(period.replacement)
        lines.append(" / ".join(parts))
    return "\n".join(lines)


def parse_absences(text: str, zone_name: str) -> list[dict[str, Any]]:
    zone = _zone(zone_name)
    periods = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("/")]
        start, end, replacement = [*parts, "", "", ""][:3]
        periods.append(
            {"start": _local(start, zone), "end": _local(end, zone), "replacement": replacement or None}
        )
    return periods


# -- mailboxes ---------------------------------------------------------------------------------------


def mailbox_values(mailbox: MailboxOut | None) -> dict[str, Any]:
    if mailbox is None:
        return {
            "address": "",
            "name": "",
            "aliases": "",
            "signature": "",
            "team": "",
            "sla_policy": "",
            "auto_ack": "",
            "disabled": False,
            "retention_days": "",
            "access": {},
        }
    return {
        "address": mailbox.address,
        "name": mailbox.name,
        "aliases": ", ".join(mailbox.aliases),
        "signature": mailbox.signature or "",
        "team": mailbox.team or "",
        "sla_policy": mailbox.sla_policy or "",
        "auto_ack": mailbox.auto_ack or "",
        "disabled": mailbox.disabled,
        "retention_days": str(mailbox.retention_days or ""),
        "access": {email: level.value for email, level in mailbox.access.items()},
    }


def mailbox_form_values(form: Form, *, address: str | None = None) -> dict[str, Any]:
    return {
        "address": address or _one(form, "address"),
        "name": _one(form, "name"),
        "aliases": _one(form, "aliases"),
        "signature": _one(form, "signature"),
        "team": _one(form, "team"),
        "sla_policy": _one(form, "sla_policy"),
        "auto_ack": _one(form, "auto_ack"),
        "disabled": _one(form, "disabled") in {"on", "1", "true"},
        "retention_days": _one(form, "retention_days"),
        "access": {
            name[len(ACCESS_PREFIX) :]: _one(form, name)
            for name in form
            if name.startswith(ACCESS_PREFIX) and _one(form, name)
        },
    }


def mailbox_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": values["address"],
        "name": values["name"].strip(),
        "aliases": _words(values["aliases"]),
        "signature": values["signature"].replace("\r\n", "\n") if values["signature"].strip() else None,
        "team": _opt(values["team"]),
        "sla_policy": _opt(values["sla_policy"]),
        "auto_ack": _opt(values["auto_ack"]),
        "access": dict(values["access"]),
        "disabled": bool(values["disabled"]),
        "retention_days": _opt(values.get("retention_days", "")),  # empty: kept forever
    }


# -- people ------------------------------------------------------------------------------------------


def user_values(user: UserOut | None) -> dict[str, Any]:
    if user is None:
        return {
            "email": "",
            "name": "",
            "role": "agent",
            "teams": [],
            "skills": "",
            "capacity": "10",
            "status": "available",
            "out_of_office": "",
            **schedule_values(None),
        }
    zone = user.schedule.timezone if user.schedule else "UTC"
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "teams": list(user.teams),
        "skills": ", ".join(user.skills),
        "capacity": str(user.capacity),
        "status": user.status.value,
        "out_of_office": absences_text(user.out_of_office, zone),
        **schedule_values(user.schedule),
    }


def user_form_values(form: Form, *, email: str | None = None) -> dict[str, Any]:
    return {
        "email": email or _one(form, "email"),
        "name": _one(form, "name"),
        "role": _one(form, "role") or "agent",
        "teams": [team for team in form.get("teams", []) if team],
        "skills": _one(form, "skills"),
        "capacity": _one(form, "capacity"),
        "status": _one(form, "status") or "available",
        "out_of_office": _one(form, "out_of_office"),
        **schedule_form_values(form),
    }


def user_payload(values: Mapping[str, Any], *, invite: bool) -> dict[str, Any]:
    schedule = schedule_payload(values)
    payload: dict[str, Any] = {
        "name": values["name"].strip(),
        "role": values["role"],
        "teams": list(values["teams"]),
        "skills": _words(values["skills"]),
        "capacity": values["capacity"].strip() or "10",
        "schedule": schedule,
        "out_of_office": parse_absences(values["out_of_office"], values.get("timezone", "UTC")),
    }
    if invite:
        payload["email"] = values["email"]
    else:
        payload["status"] = values["status"]
        payload["clear_schedule"] = schedule is None
    return payload


# -- teams -------------------------------------------------------------------------------------------


def policies_text(policies: list[SlaPolicy]) -> str:
    return "\n".join(
        f"{p.id} | {p.name} | {p.first_response_minutes} | {p.resolution_minutes} | "
        f"{'business' if p.business_hours else 'wall'}"
        for p in policies
    )


def parse_policies(text: str) -> list[dict[str, Any]]:
    policies = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        policy_id, name, first, resolution, clock = [*parts, "", "", "", "", "business"][:5]
        policies.append(
            {
                "id": policy_id,
                "name": name or policy_id,
                "first_response_minutes": first,
                "resolution_minutes": resolution,
                "business_hours": clock.lower() != "wall",
            }
        )
    return policies


def team_values(team: Team | None) -> dict[str, Any]:
    if team is None:
        return {
            "id": "",
            "name": "",
            "strategy": "manual",
            "members": [],
            "sla_policies": "",
            "default_sla": "",
            "sticky_days": "14",
            **schedule_values(None),
        }
    return {
        "id": team.id,
        "name": team.name,
        "strategy": team.strategy.value,
        "members": list(team.members),
        "sla_policies": policies_text(team.sla_policies),
        "default_sla": team.default_sla or "",
        "sticky_days": str(team.sticky_days),
        **schedule_values(team.calendar),
    }


def team_form_values(form: Form, *, team_id: str | None = None) -> dict[str, Any]:
    return {
        "id": team_id or _one(form, "id"),
        "name": _one(form, "name"),
        "strategy": _one(form, "strategy") or "manual",
        "members": [member for member in form.get("members", []) if member],
        "sla_policies": _one(form, "sla_policies"),
        "default_sla": _one(form, "default_sla"),
        "sticky_days": _one(form, "sticky_days"),
        **schedule_form_values(form),
    }


def team_payload(values: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": values["name"].strip(),
        "strategy": values["strategy"],
        "members": list(values["members"]),
        "calendar": schedule_payload(values),
        "sla_policies": parse_policies(values["sla_policies"]),
        "default_sla": _opt(values["default_sla"]),
        "sticky_days": values["sticky_days"].strip() or "14",
    }
    if create:
        payload["id"] = values["id"].strip()
    return payload
