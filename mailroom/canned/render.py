"""Render canned responses in Jinja2's sandbox: templates are admin-written text, never code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from mailroom.canned.model import CannedResponse, TemplateContext

MAX_OUTPUT_CHARS = 50_000


class TemplateError(ValueError):
    """A template that does not render, with the line where it went wrong when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    # Plain-text mail: no HTML autoescaping here; the HTML part is derived from the text, escaped.
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_template(source: str, context: TemplateContext) -> str:
    try:
        template = environment().from_string(source)
        output = template.render(**context.model_dump())
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", exc.lineno) from exc
    except UndefinedError as exc:
        raise TemplateError(f"unknown variable: {exc.message}", _line_of(exc)) from exc
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc}", _line_of(exc)) from exc
    return output[:MAX_OUTPUT_CHARS]


def render_canned(canned: CannedResponse, context: TemplateContext, *, default_subject: str) -> Rendered:
    subject = render_template(canned.subject, context).strip() if canned.subject else default_subject
    return Rendered(subject=" ".join(subject.split()), body=render_template(canned.body, context))


def _line_of(exc: Exception) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
