"""Simulated agents: threads that work through the HTTP API as a person in the UI would.

Each round an agent answers the open conversations assigned to them ("Mine"), replying and closing
(which frees capacity), and otherwise claims one conversation from the unassigned queue and answers
it. Every reply carries a fresh idempotency key; a stale ``seen_version`` (409) is retried with the
version the API reports, under the same key; a share of accepted replies is posted a second time
with the same key, as a client retrying after a lost answer does (it must not send twice). Every
claim and reply request is recorded in the ledger with its HTTP status.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.load.mix import AgentReply, MailMix
from sandbox.invariants import ACCEPTED_REPLY, NO_ANSWER, Claim, Ledger, SentReply
from tests.e2e.sandbox_process import SandboxProcess

STALE_RETRIES = 3
MINE_PAGE = 10
QUEUE_PAGE = 10
HTTP_TIMEOUT_S = 60  # API requests queue behind the sandbox's few execution environments


@dataclass
class AgentStats:
    replies: int = 0
    replayed: int = 0
    claims: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # "reply 409", "claim 409", ...
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def refusal(self, what: str, status: int) -> None:
        with self.lock:
            self.refused[f"{what} {status}"] += 1

    def error(self, what: str, exc: Exception) -> None:
        with self.lock:
            self.errors[f"{what} {type(exc).__name__}"] += 1


class SimulatedAgent(threading.Thread):
    def __init__(
        self,
        *,
        email: str,
        sandbox: SandboxProcess,
        mix: MailMix,
        ledger: Ledger,
        stats: AgentStats,
        stop: threading.Event,
        seed: int,
        think_s: float = 0.1,
        replay_share: float = 0.1,
        max_rounds: int = 1_000_000,
    ) -> None:
        super().__init__(name=f"agent-{email}", daemon=True)
        self.email = email
        self.sandbox = sandbox
        self.mix, self.ledger, self.stats = mix, ledger, stats
        self.stop = stop
        self.rng = random.Random(seed)
        self.think_s = think_s
        self.replay_share = replay_share
        self.max_rounds = max_rounds

    def run(self) -> None:
        for _ in range(self.max_rounds):
            if self.stop.is_set():
                return
            try:
                worked = self._answer_mine() or self._claim_one()
            except (OSError, ValueError) as exc:  # a timeout or a refused connection: try again
                self.stats.error("round", exc)
                worked = False
            self.stop.wait(self.think_s if worked else max(self.think_s, 0.25))

    # -- what an agent does -------------------------------------------------------------------------

    def _list(self, view: str, limit: int) -> list[dict[str, Any]]:
        listing = self.sandbox.get(
            f"/api/conversations?view={view}&limit={limit}", user=self.email, timeout=HTTP_TIMEOUT_S
        )
        return list(listing["items"])

    def _answer_mine(self) -> bool:
        mine = [c for c in self._list("mine", MINE_PAGE) if c["status"] == "open"]
        for conversation in mine:
            if self.stop.is_set():
                break
            self._reply(conversation)
            self.stop.wait(self.think_s)
        return bool(mine)

    def _claim_one(self) -> bool:
        queue = self._list("unassigned", QUEUE_PAGE)
        if not queue:
            return False
        conversation = self.rng.choice(queue)
        status, body = self.sandbox.post(
            f"/api/conversations/{conversation['id']}/claim", {}, user=self.email
        )
        self.ledger.record_claim(Claim(conversation_id=conversation["id"], agent=self.email, status=status))
        if status != 200:
            self.stats.refusal("claim", status)
            return True
        self.stats.count("claims")
        self._reply(body)
        return True

    def _reply(self, conversation: dict[str, Any]) -> None:
        key = f"lt-{uuid.uuid4().hex}"
        request = {
            "idempotency_key": key,
            "seen_version": conversation["version"],
            "text": f"Hello,\n\nabout {conversation['subject'][:60]}: done.\n\n-- {self.email}",
            "close_after": "closed",
        }
        path = f"/api/conversations/{conversation['id']}/replies"
        attempts, status, body = 0, 0, None
        accepted: dict[str, Any] | None = None
        for _ in range(STALE_RETRIES):
            attempts += 1
            status, body = self._post(path, request)
            if status in ACCEPTED_REPLY:
                accepted = body
                break
            current = (body or {}).get("conversation") if isinstance(body, dict) else None
            if status != 409 or not current or current.get("assignee") not in (None, self.email):
                break
            request["seen_version"] = current["version"]  # stale: look again, same key
        if accepted is not None and self.rng.random() < self.replay_share:
            attempts += 1
            replay_status, _ = self._post(path, request)
            self.stats.count("replayed")
            status = replay_status if replay_status in ACCEPTED_REPLY else status
            if replay_status not in ACCEPTED_REPLY:
                self.stats.refusal("replay", replay_status)
        self.ledger.record_reply(
            SentReply(
                conversation_id=conversation["id"],
                idempotency_key=key,
                agent=self.email,
                status=status,
                message_id=str(accepted["message_id"]) if accepted else None,
                attempts=attempts,
            )
        )
        if accepted is None:
            self.stats.refusal("reply", status)
            return
        self.stats.count("replies")
        self.mix.agent_replied(
            AgentReply(
                mailbox=conversation["mailbox"],
                message_id=str(accepted["message_id"]).strip("<>"),
                customer=conversation["contact_email"],
                subject=conversation["subject"],
            )
        )

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """(status, answer); NO_ANSWER when no answer came twice (the same key is safe to resend)."""
        for _ in range(2):
            try:
                return self.sandbox.post(path, body, user=self.email)
            except OSError as exc:  # URLError, a timeout, a refused connection
                self.stats.error("post", exc)
        return NO_ANSWER, None
