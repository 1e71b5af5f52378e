"""Agents' replies: sent exactly once, never over a conversation that changed under the agent.

Use :class:`ReplyService` (``send_reply``, ``resolve_unknown``); the models, errors and pure
decisions are in :mod:`mailroom.replies.model`, table access in :mod:`mailroom.replies.store`.
"""

from mailroom.replies.model import (
    AgentIdentity,
    IdempotencyKeyReusedError,
    InvalidRecipientError,
    NoRecipientError,
    NotAssigneeError,
    ReplyError,
    ReplyNotFoundError,
    ReplyNotPermittedError,
    ReplyRequest,
    ReplyResult,
    ReplyStateError,
    ReplyStatus,
    StaleReplyError,
)
from mailroom.replies.service import ReplyService

__all__ = [
    "AgentIdentity",
    "IdempotencyKeyReusedError",
    "InvalidRecipientError",
    "NoRecipientError",
    "NotAssigneeError",
    "ReplyError",
    "ReplyNotFoundError",
    "ReplyNotPermittedError",
    "ReplyRequest",
    "ReplyResult",
    "ReplyService",
    "ReplyStateError",
    "ReplyStatus",
    "StaleReplyError",
]
