"""The organisation the load test works in, made through the admin API as an admin would.

Two mailboxes with a team each: ``support@`` (least loaded; agents with room for
:data:`WIDE_CAPACITY` conversations, so routing assigns at once and the latency is the pipeline's)
and ``sales@`` (round robin; agents with a small capacity, so their queue fills, agents claim from it
and the scheduled sweep assigns from it: where the capacity invariant is exercised). Agents alternate
between the teams; every agent has full access to both mailboxes (claims cross teams).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.e2e.sandbox_process import SandboxProcess

DOMAIN = "acme.test"
WIDE_CAPACITY = 1000  # the most the admin API allows


@dataclass(frozen=True)
class Org:
    mailboxes: tuple[str, ...]
    mailbox_weights: tuple[int, ...]  # share of the mail each mailbox gets
    agents: tuple[str, ...]


def _created(status: int, body: object, what: str) -> None:
    if status not in (200, 201):
        raise RuntimeError(f"could not create {what}: {status} {body}")


def seed_org(sandbox: SandboxProcess, *, agents: int, tight_capacity: int) -> Org:
    teams = (("support", "least_loaded", WIDE_CAPACITY), ("sales", "round_robin", tight_capacity))
    for team_id, strategy, _ in teams:
        status, body = sandbox.post(
            "/api/admin/teams", {"id": team_id, "name": team_id.title(), "strategy": strategy}
        )
        _created(status, body, f"team {team_id}")
    emails = []
    for n in range(max(1, agents)):
        team_id, _, capacity = teams[n % len(teams)]
        email = f"agent{n}@{DOMAIN}"
        status, body = sandbox.post(
            "/api/admin/users",
            {"email": email, "name": f"Agent {n}", "role": "agent", "teams": [team_id], "capacity": capacity},
        )
        _created(status, body, f"agent {email}")
        emails.append(email)
    mailboxes = []
    for team_id, _, _ in teams:
        address = f"{team_id}@{DOMAIN}"
        status, body = sandbox.post(
            "/api/admin/mailboxes",
            {
                "address": address,
                "name": team_id.title(),
                "team": team_id,
                "access": dict.fromkeys(emails, "full"),
            },
        )
        _created(status, body, f"mailbox {address}")
        mailboxes.append(address)
    return Org(mailboxes=tuple(mailboxes), mailbox_weights=(3, 1), agents=tuple(emails))
