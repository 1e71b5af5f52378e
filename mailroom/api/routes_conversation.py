"""The conversation page and its live parts (htmx fragments): timeline, sidebar, presence, the
reply composer, notes and the actions in the sidebar. Every write goes through the same services
as the JSON API; refusals are shown in the page, and a draft is never lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from mailroom.actions.model import Actor, StatusRequest
from mailroom.actions.notes import NoteService
from mailroom.actions.service import ConversationActions
from mailroom.api import wiring
from mailroom.api.access import actor_of
from mailroom.api.conversation_view import Composer, ConversationView, load_view, next_conversation
from mailroom.api.errors import ApiError, describe
from mailroom.api.guard import current_session
from mailroom.api.render import page, render
from mailroom.api.security import MAIL_BODY_CSP, MAIL_BODY_CSP_REMOTE_IMAGES
from mailroom.api.session import Session
from mailroom.api.workspace import CannedNotFoundError, presence, render_for, send_reply
from mailroom.auth import policy
from mailroom.canned.render import TemplateError
from mailroom.clock import parse_iso
from mailroom.domain.message import StoredMessage
from mailroom.inbox.thread import load_message
from mailroom.mail.inline_images import embed_inline_images
from mailroom.mail.model import Address
from mailroom.mail.quoting import fold_quoted_html
from mailroom.presence.model import HEARTBEAT_SECONDS, PresenceState
from mailroom.replies.model import ReplyRequest, ReplyResult, ReplyStatus, StaleReplyError
from mailroom.storage import BlobNotFoundError

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated

DELIVERY_LABELS = {
    ReplyStatus.QUEUED: "queued",
    ReplyStatus.SENDING: "sending…",
    ReplyStatus.SENT: "sent",
    ReplyStatus.UNKNOWN: "delivery unknown",
    ReplyStatus.FAILED: "not sent",
}


def _session() -> Session:
    return current_session(router.context)


def _form() -> dict[str, str]:
    """The urlencoded form of this request (first value of each field)."""
    fields = parse_qs(router.current_event.decoded_body or "", keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


def _fragment(template: str, view: ConversationView, status_code: int = 200, **context: Any) -> Response[str]:
    session = _session()
    holder = view.conversation.assignee
    return render(
        template,
        status_code=status_code,
        session=session,
        csrf=session.csrf(),
        view=view,
        me=session.principal.email,
        holder=holder,
        heartbeat=HEARTBEAT_SECONDS,
        delivery_labels=DELIVERY_LABELS,
        composer=context.pop("composer", None) or Composer(seen_version=view.conversation.version),
        **context,
    )


def _fresh_composer(view: ConversationView, result: ReplyResult | None = None) -> Composer:
    """An empty reply form, its Cc filled as "reply all" does."""
    return Composer(
        seen_version=view.conversation.version, cc=", ".join(a.email for a in view.cc), result=result
    )


def _view_or_404(conversation_id: str) -> ConversationView | Response[str]:
    view = load_view(_session().principal, conversation_id)
    if view is None:
        return page(_session(), "not_found.html", 404, what="conversation", ident=conversation_id)
    return view


def _changed() -> dict[str, str]:
    """Tell every part of the page that listens (timeline, sidebar) to reload itself."""
    return {"HX-Trigger": "thread-changed"}


# -- the page and its parts ---------------------------------------------------------------------------


@router.get("/conversations/<conversation_id>", include_in_schema=False)
def conversation_page(conversation_id: str) -> Response[str]:
    view = _view_or_404(conversation_id)
    if isinstance(view, Response):
        return view
    return _fragment("conversation.html", view, composer=_fresh_composer(view))


@router.get("/next", include_in_schema=False)
def next_page() -> Response[str]:
    """Keyboard "j": the next conversation in my queue, or the inbox when it is empty."""
    after = (router.current_event.query_string_parameters or {}).get("after", "")
    target = next_conversation(_session().principal, after)
    location = f"/conversations/{target}" if target else "/?view=mine"
    return Response(status_code=303, body="", headers={"Location": location})


@router.get("/conversations/<conversation_id>/timeline", include_in_schema=False)
def timeline_part(conversation_id: str) -> Response[str]:
    view = _view_or_404(conversation_id)
    return view if isinstance(view, Response) else _fragment("_timeline.html", view)


@router.get("/conversations/<conversation_id>/sidebar", include_in_schema=False)
def sidebar_part(conversation_id: str) -> Response[str]:
    view = _view_or_404(conversation_id)
    return view if isinstance(view, Response) else _fragment("_sidebar.html", view)


@router.post("/conversations/<conversation_id>/presence", include_in_schema=False)
def presence_part(conversation_id: str) -> Response[str]:
    """The heartbeat: records "viewing"/"replying", answers with who else is here. When the
    conversation moved past what the page shows, the page is told to reload its parts."""
    form = _form()
    state = PresenceState.REPLYING if form.get("state") == "replying" else PresenceState.VIEWING
    try:
        conversation, others = presence(_session().principal, conversation_id, state)
    except policy.NotVisibleError:
        return Response(status_code=404, content_type="text/html; charset=utf-8", body="")
    shown = _int(form.get("timeline_version"))
    drafted = _int(form.get("seen_version"))
    response = render(
        "_presence.html",
        present=others,
        changed=drafted is not None and conversation.version > drafted and state is PresenceState.REPLYING,
    )
    if shown is not None and conversation.version != shown:
        response.headers.update(_changed())
    return response


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


# -- composing and sending ----------------------------------------------------------------------------


def _composer_from(form: dict[str, str], version: int) -> Composer:
    return Composer(
        idempotency_key=form.get("idempotency_key") or Composer().idempotency_key,
        seen_version=_int(form.get("seen_version")) or version,
        text=form.get("text", ""),
        cc=form.get("cc", ""),
        subject=form.get("subject", ""),
        canned_id=form.get("canned_id", ""),
        close_after=form.get("close_after", ""),
    )


def _addresses(text: str) -> list[Address]:
    return [Address(email=part.strip()) for part in text.replace(";", ",").split(",") if part.strip()]


@router.post("/conversations/<conversation_id>/compose", include_in_schema=False)
def compose_part(conversation_id: str) -> Response[str]:
    """Insert a canned response into the draft (rendered for this customer, as this agent)."""
    view = _view_or_404(conversation_id)
    if isinstance(view, Response):
        return view
    form = _form()
    composer = _composer_from(form, view.conversation.version)
    canned_id = form.get("insert_canned", "")
    status = 200
    if not view.can_act:
        composer.error, status = "You may not answer conversations in this mailbox.", 403
    elif canned_id:
        try:
            canned, rendered = render_for(_session().principal, conversation_id, canned_id)
        except CannedNotFoundError:
            composer.error, status = "That canned response no longer exists.", 422
        except TemplateError as exc:
            composer.error, status = f"The canned response has an error ({exc}); ask an admin to fix it.", 422
        else:
            composer.text = (
                f"{composer.text.rstrip()}\n\n{rendered.body}".lstrip()
                if composer.text.strip()
                else rendered.body
            )
            composer.canned_id = canned.id
            if canned.subject:
                composer.subject = rendered.subject
    return _fragment("_composer.html", view, status, composer=composer)


@router.post("/conversations/<conversation_id>/reply", include_in_schema=False)
def reply_part(conversation_id: str) -> Response[str]:
    principal = _session().principal
    form = _form()
    view = _view_or_404(conversation_id)
    if isinstance(view, Response):
        return view
    composer = _composer_from(form, view.conversation.version)
    resolution = form.get("resolve")
    headers: dict[str, str] = {}
    status = 200
    result: ReplyResult | None = None
    try:
        if resolution in {"sent", "not_sent"}:
            policy.require_act(principal, view.conversation.mailbox)
            wiring.replies().resolve_unknown(
                view.conversation.id, composer.idempotency_key, resolution == "sent", actor=principal.email
            )
        if resolution == "sent":
            result = wiring.replies().get_reply(view.conversation.id, composer.idempotency_key)
        else:
            result = send_reply(principal, _request(view.conversation.id, composer))
    except Exception as exc:
        error = _refusal(exc)
        composer.error, status = error.message, error.status
        if isinstance(exc, StaleReplyError):
            composer.changes = exc.changes
            composer.seen_version = exc.current_version  # the draft stays; send again once read
            headers = _changed()
    if result is not None:
        headers = _changed()
        if result.status in {ReplyStatus.SENT, ReplyStatus.SENDING}:
            view = load_view(principal, conversation_id) or view
            composer = _fresh_composer(view, result=result)
        else:  # in doubt or refused by the provider: keep the draft and the key
            composer.result = result
    response = _fragment("_composer.html", view, status, composer=composer)
    response.headers.update(headers)
    return response


def _refusal(exc: Exception) -> ApiError:
    """The refusal to show for ``exc``; anything that is not a refusal is a bug and propagates."""
    error = describe(exc)
    if error is None:
        raise exc
    return error


def _request(conversation_id: str, composer: Composer) -> ReplyRequest:
    return ReplyRequest(
        conversation_id=conversation_id,
        idempotency_key=composer.idempotency_key,
        seen_version=composer.seen_version,
        text=composer.text,
        cc=_addresses(composer.cc),
        subject=composer.subject or None,
        canned_id=composer.canned_id or None,
        close_after=composer.close_after or None,
    )


# -- notes and actions --------------------------------------------------------------------------------


def _actor() -> Actor:
    return actor_of(_session().principal)


def _in_sync(form: dict[str, str], before: int, after: int) -> str:
    """When the agent's draft was up to date before their own change, it still is after it: move
    the composer's version along (out of band), so their next reply isn't refused for their own act."""
    drafted = _int(form.get("seen_version"))
    if drafted is None or drafted != before or after <= before:
        return ""
    return (
        f'<input type="hidden" id="composer-version" name="seen_version" value="{after}" hx-swap-oob="true">'
    )


@router.post("/conversations/<conversation_id>/notes", include_in_schema=False)
def note_part(conversation_id: str) -> Response[str]:
    form = _form()
    view = _view_or_404(conversation_id)
    if isinstance(view, Response):
        return view
    text = form.get("text", "")
    try:
        policy.require_act(_session().principal, view.conversation.mailbox)
        result = NoteService(wiring.table()).add_note(view.conversation.id, text, _actor())
    except Exception as exc:
        error = _refusal(exc)
        return _fragment("_note_form.html", view, error.status, note_error=error.message, note_text=text)
    response = _fragment("_note_form.html", view, note_saved=result.note)
    response.body = str(response.body) + _in_sync(
        form, view.conversation.version, result.conversation.version
    )
    response.headers.update(_changed())
    return response


@router.post("/conversations/<conversation_id>/actions/<action>", include_in_schema=False)
def action_part(conversation_id: str, action: str) -> Response[str]:
    """One sidebar action; answers with a status line, and tells the page to reload its parts."""
    principal = _session().principal
    form = _form()
    view = _view_or_404(conversation_id)
    if isinstance(view, Response):
        return view
    before = view.conversation.version
    try:
        act = _ACTIONS.get(action)
        if act is None:
            raise ApiError(404, f"no action {action}")
        policy.require_act(principal, view.conversation.mailbox)
        after, done = act(ConversationActions(wiring.table()), _actor(), view.conversation.id, form)
    except Exception as exc:
        error = _refusal(exc)
        return render("_action_status.html", status_code=error.status, error=error.message)
    body = str(render("_action_status.html", done=done).body) + _in_sync(form, before, after)
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body, headers=_changed())


Outcome = tuple[int, str]  # the conversation's version after the action, what to tell the agent


def _claim(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    return actions.claim(conv_id, actor).version, "It's yours."


def _unassign(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    return actions.unassign(conv_id, actor).version, "Unassigned: back in the team's queue."


def _assign(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    agent = form.get("agent", "")
    return actions.assign(conv_id, agent, actor).version, f"Assigned to {agent}."


def _transfer(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    team = form.get("team", "")
    return actions.transfer(conv_id, team, actor).version, f"Transferred to {team}."


def _tag(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    tag = form.get("tag", "")
    return actions.tag(conv_id, tag, actor).version, f"Tagged {tag}."


def _untag(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    tag = form.get("tag", "")
    return actions.untag(conv_id, tag, actor).version, f"Removed tag {tag}."


def _status(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    request = StatusRequest.model_validate(
        {"status": form.get("status"), "snooze_until": _snooze_until(form)}
    )
    changed = actions.set_status(conv_id, request, actor)
    return changed.version, f"Status: {changed.status.value}."


def _merge(actions: ConversationActions, actor: Actor, conv_id: str, form: dict[str, str]) -> Outcome:
    other = form.get("other", "")
    actions.merge(other, conv_id, actor)  # the chosen conversation is merged into this one
    return actions.get(conv_id).version, f"Merged {other} into this conversation."


_ACTIONS = {
    "claim": _claim,
    "unassign": _unassign,
    "assign": _assign,
    "transfer": _transfer,
    "tag": _tag,
    "untag": _untag,
    "status": _status,
    "merge": _merge,
}


def _snooze_until(form: dict[str, str]) -> str | None:
    """``datetime-local`` has no zone: the page sends the browser's offset (minutes, as JS gives it)."""
    local = form.get("snooze_until")
    if not local:
        return None
    offset = _int(form.get("tz_offset")) or 0
    try:
        naive = parse_iso(local + ("" if len(local) > 16 else ":00") + "Z")
    except ValueError as exc:
        raise ApiError(422, "Pick a date and time to snooze until.") from exc
    return (naive + timedelta(minutes=offset)).isoformat()


# -- mail bodies ---------------------------------------------------------------------------------------


@router.get("/conversations/<conversation_id>/messages/<message_key>/body", include_in_schema=False)
def message_body(conversation_id: str, message_key: str) -> Response[str]:
    """One message's sanitized HTML as a document of its own, for the sandboxed iframe. Quoted
    history is folded; remote images load only with ``?images=1`` (the agent asked for them)."""
    principal = _session().principal
    message = load_message(wiring.table(), wiring.store(), conversation_id, message_key)
    if message is None or not policy.can_read_bodies(principal, message.mailbox):
        return page(_session(), "not_found.html", 404, what="message", ident=message_key)
    query = router.current_event.query_string_parameters or {}
    remote = query.get("images") == "1"
    html = (
        fold_quoted_html(embed_inline_images(message.html, _attachment_loader(message)))
        if message.html
        else None
    )
    response = render("message_body.html", html=html, text=message.text)
    response.headers["Content-Security-Policy"] = MAIL_BODY_CSP_REMOTE_IMAGES if remote else MAIL_BODY_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _attachment_loader(message: StoredMessage) -> Callable[[str], tuple[str, bytes] | None]:
    by_content_id = {a.content_id: a for a in message.attachments if a.content_id}

    def load(content_id: str) -> tuple[str, bytes] | None:
        attachment = by_content_id.get(content_id)
        if attachment is None:
            return None
        try:
            return attachment.content_type, wiring.store().get(attachment.key)
        except BlobNotFoundError:
            return None

    return load
