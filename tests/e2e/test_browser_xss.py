"""Hostile mail in real Chromium: nothing in it ever runs, and nothing leaves 127.0.0.1.

One sandbox (no demo) gets the corpus of :mod:`tests.xss_corpus` over SMTP: a few dozen hostile
HTML bodies, hostile headers (raw and RFC 2047/2231 encoded), plain text with markup, remote
images, a customer with a hostile name; a second admin with a hostile name writes a note that
@mentions the first, and a hostile canned response sits in the table. Then one browser opens every
page that shows any of it: the inbox, each conversation, each message body (framed, and as a
document of its own), the composer with the canned response inserted, the outbox after sending it,
the mentions page, the sign-in page, and pages that echo the URL.

How "nothing ran" is proven: an init script (Playwright puts it in every frame, sandboxed ones
included) defines ``pwn()`` and replaces ``alert``/``confirm``/``prompt``/``print`` with recorders;
every vector calls one of them with its own marker. ``__xss`` is read from every frame after each
page; a dialog, a new window or an uncaught error (a vector whose ``pwn`` is undefined would raise
one) fails the test, and so does any request to a host other than 127.0.0.1 (all are aborted). The
first test proves these detectors on a page that lets everything run.

CSP violations are collected from ``securitypolicyviolation`` events and from the console (in a mail
frame, sandboxed without scripts, no listener runs: the console is the witness there) and
summarized: in mail frames they are the policy doing its job, but the app's own documents must have
none, and with the benign control mail there must be no console error at all. Beyond execution the
DOM is checked: the app's pages hold no handler attribute, script or image that is not ours, and a
mail frame holds only sanitized markup (no handlers, scripts, frames, forms, foreign URL schemes).

Two findings of this corpus were fixed and stay pinned by their own tests: the inline-image rewrite
once reopened sanitized tags (``src=cid:`` inside another attribute), and the sign-in redirect once
accepted "/<TAB>/host".
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Frame,
    Page,
    Request,
    Route,
)

from mailroom.assignment.store import AssignmentStore
from mailroom.canned.model import CannedResponse
from mailroom.canned.store import put_canned
from mailroom.domain.agent import Agent
from mailroom.inbox.directory import upsert_user
from mailroom.table.client import Table
from sandbox.dynamodb_local import local_client
from tests.e2e.browser import chromium, screenshot, sign_in
from tests.e2e.sandbox_process import SandboxProcess
from tests.e2e.test_sandbox import wait_for
from tests.xss_corpus import (
    CANNED_BODY,
    CANNED_ID,
    CANNED_NAME,
    CANNED_SUBJECT,
    CID_BREAKOUTS,
    CUSTOMER_NAME,
    EVIL,
    MALLORY,
    MALLORY_NAME,
    NOTE_TEXT,
    REMOTE_IMAGES,
    TO,
    VECTORS_PER_THREAD,
    Mail,
    all_mails,
    pwn,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN = "Sandbox Admin"  # sandbox/app.py FIRST_ADMIN, admin@localhost
LOCAL_HOSTS = frozenset({"127.0.0.1"})
MESSAGE_BODY = re.compile(r"/conversations/[a-z0-9]+/messages/[a-z0-9]+/body")
NOT_LOCAL = re.compile(r"^(?!https?://127\.0\.0\.1(:\d+)?/)")  # "127.0.0.1:80@evil.example" is not local
SETTLE_MS = 50  # after a page and its frames loaded: async handlers (toggle, focus, autofocus) run

INIT_SCRIPT = r"""
(() => {
  if (window.__xss) { return; }
  const xss = [];
  const csp = [];
  Object.defineProperty(window, '__xss', { value: xss });
  Object.defineProperty(window, '__csp', { value: csp });
  window.pwn = function (marker) { xss.push(String(marker)); };
  for (const name of ['alert', 'confirm', 'prompt', 'print']) {
    window[name] = function (message) { xss.push(name + ':' + String(message)); };
  }
  document.addEventListener('securitypolicyviolation', (e) => {
    csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, document: document.URL,
               sample: e.sample, disposition: e.disposition });
  }, true);
})();
"""

# What a mail frame (or a message body opened on its own) may hold: sanitized markup only.
FRAME_DOM_PROBLEMS = r"""
() => {
  const badTags = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'form',
    'input', 'button', 'textarea', 'select', 'isindex', 'meta', 'base', 'link', 'style', 'svg', 'math',
    'template', 'video', 'audio', 'source', 'noscript', 'portal', 'marquee', 'animate', 'set']);
  const urlAttrs = new Set(['href', 'src', 'action', 'formaction', 'data', 'poster', 'background', 'srcset',
    'xlink:href', 'ping', 'cite', 'longdesc', 'lowsrc', 'dynsrc', 'codebase', 'manifest', 'icon']);
  const problems = [];
  const describe = (el, what) => problems.push(`<${el.localName}> ${what}`.slice(0, 200));
  for (const el of document.querySelectorAll('*')) {
    const inHead = document.head && document.head.contains(el) && el !== document.head;
    if (inHead) {
      const ours = (el.localName === 'meta' && el.attributes.length === 1 && el.hasAttribute('charset'))
        || (el.localName === 'base' && el.attributes.length === 1 && el.getAttribute('target') === '_blank')
        || (el.localName === 'style' && el.attributes.length === 0);
      if (!ours) { describe(el, 'in head: ' + el.outerHTML); }
      continue;
    }
    if (badTags.has(el.localName)) { describe(el, el.outerHTML); }
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\u0000-\u0020]/g, '').toLowerCase();
      if (name.startsWith('on') || name === 'srcdoc' || name === 'is') {
        describe(el, `${name}=${attr.value}`);
      } else if (urlAttrs.has(name)) {
        const image = el.localName === 'img' && name === 'src';
        const fine = /^(https?:|mailto:|#|$)/.test(value)
          || (image && /^data:(image\/(png|jpeg|gif|webp|bmp)[;,]|,)/.test(value));
        if (!fine) { describe(el, `${name}=${attr.value}`); }
      } else if (name === 'style' && /url\(|behavior|binding|@import|javascript:/.test(value)) {
        describe(el, `style=${attr.value}`);
      }
    }
  }
  return problems;
}
"""

# What the app's own pages may hold: our scripts, our frames, no handler attributes, no images.
APP_DOM_PROBLEMS = r"""
() => {
  const problems = [];
  const describe = (el, what) => problems.push(`<${el.localName}> ${what}`.slice(0, 200));
  for (const el of document.querySelectorAll('*')) {
    const tag = el.localName;
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\u0000-\u0020]/g, '').toLowerCase();
      if (name.startsWith('on') || name === 'srcdoc') { describe(el, `${name}=${attr.value}`); }
      const urlAttr = ['href', 'src', 'action', 'formaction', 'data'].includes(name);
      if (urlAttr && /^(javascript|vbscript|data):/.test(value)) { describe(el, `${name}=${attr.value}`); }
    }
    const src = el.getAttribute('src') || '';
    const ours = {
      script: /^\/static\/[a-z.]+\.js(\?v=[0-9a-f]+)?$/.test(src),
      link: /^\/static\//.test(el.getAttribute('href') || ''),
      iframe: /^\/conversations\/[a-z0-9]+\/messages\/[a-z0-9]+\/body$/.test(src)
        && el.getAttribute('sandbox') === 'allow-popups allow-popups-to-escape-sandbox',
      meta: !el.hasAttribute('http-equiv'),
    };
    const never = ['img', 'svg', 'math', 'object', 'embed', 'base', 'style', 'template', 'frame', 'video',
      'audio'];
    if ((tag in ours && !ours[tag]) || never.includes(tag)) { describe(el, el.outerHTML); }
  }
  return problems;
}
"""

READ_AND_CLEAR = "() => window.__xss ? { xss: window.__xss.splice(0), csp: window.__csp.splice(0) } : null"

# Events a person (or the page) could cause, fired at every element of a mail frame: a handler that
# survived sanitizing would run, if the frame allowed scripts at all.
DISPATCH_EVENTS = r"""
() => {
  const names = ['mouseover', 'mouseenter', 'mousemove', 'pointerover', 'focus', 'focusin', 'blur',
    'toggle', 'load', 'error', 'animationstart', 'transitionend', 'input', 'change', 'scroll', 'wheel'];
  let fired = 0;
  for (const el of Array.from(document.querySelectorAll('*')).slice(0, 400)) {
    for (const name of names) { el.dispatchEvent(new Event(name, { bubbles: true })); fired += 1; }
  }
  return fired;
}
"""


# In a mail frame: how many <summary> to open, and which links to click (those that don't leave:
# following one to the internet is a person's choice, not something a mail can make happen).
POKE_TARGETS = r"""
() => ({
  summaries: document.querySelectorAll('summary').length,
  links: Array.from(document.querySelectorAll('a')).flatMap((a, index) =>
    /^\s*(https?:|mailto:)/i.test(a.getAttribute('href') || '') ? [] : [index]),
})
"""


FRAME_VISIT = (
    f"() => ({{ problems: ({FRAME_DOM_PROBLEMS})(), fired: ({DISPATCH_EVENTS})(), ...({POKE_TARGETS})() }})"
)


def until(page: Page, check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check``, letting Playwright dispatch its events (routes, console) meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout}s")
        page.wait_for_timeout(50)


# -- the sandbox and its hostile content -------------------------------------------------------------


@dataclass
class World:
    sandbox: SandboxProcess
    base: str
    mails: dict[str, Mail]
    conversations: dict[str, str]  # mail key -> conversation id
    messages: dict[str, str]  # the stored message's key (in body URLs) -> mail key

    def conversation(self, key: str) -> str:
        return self.conversations[key]

    def mail_of(self, body_url: str) -> str:
        """The corpus mail a message body URL shows (/conversations/<id>/messages/<key>/body)."""
        return self.messages.get(
            body_url.rsplit("/messages/", maxsplit=1)[-1].split("/", maxsplit=1)[0], "reply"
        )


def sandbox_table(sandbox: SandboxProcess) -> Table:
    """The sandbox's own table, through the DynamoDB Local endpoint it records in sandbox.json."""
    state = json.loads((sandbox.data_dir / "sandbox.json").read_text())
    client = local_client("dynamodb", state["dynamodb_endpoint"])
    return Table(state["table_name"], client, report_capacity=False)


def deliver(sandbox: SandboxProcess, mails: list[Mail], connections: int = 4) -> None:
    """Over SMTP, a few connections at once (the server takes each mail in before it answers)."""

    def send(share: list[Mail]) -> None:
        with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=30) as smtp:
            for mail in share:
                smtp.sendmail("customer@example.com", [TO], mail.raw)

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(send, [mails[i::connections] for i in range(connections)]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sandbox = SandboxProcess(data_dir=tmp_path_factory.mktemp("xss") / "data", demo=False).start()
    try:
        table = sandbox_table(sandbox)
        upsert_user(table, MALLORY, name=MALLORY_NAME, role="admin")
        AssignmentStore(table).put_agent(Agent(id=MALLORY, name=MALLORY_NAME, role="admin"))  # she replies
        put_canned(
            table,
            CannedResponse(id=CANNED_ID, name=CANNED_NAME, subject=CANNED_SUBJECT, body=CANNED_BODY),
        )
        mails = all_mails()
        # First the mails that start a conversation, then the answers (threaded to them once in).
        roots = [m for m in mails if m.parent is None]
        deliver(sandbox, roots)
        wait_for(sandbox, lambda b: len(b["items"]) >= len(roots), timeout=60)
        deliver(sandbox, [m for m in mails if m.parent is not None])
        listing = wait_for(
            sandbox, lambda b: sum(i["message_count"] for i in b["items"]) >= len(mails), timeout=60
        )
        conversations: dict[str, str] = {}
        messages: dict[str, str] = {}
        for item in listing["items"]:
            for message in sandbox.get(f"/api/conversations/{item['id']}")["messages"]:
                # The longest key that starts the Message-ID ("v-script" starts "v-script-src-data@...").
                keys = [m.key for m in mails if message["message_id"].startswith(m.key + "@")]
                if keys:
                    conversations[max(keys, key=len)] = item["id"]
                    messages[message["id"]] = max(keys, key=len)
        missing = {m.key for m in mails} - set(conversations)
        assert not missing, f"mail not found in any conversation: {sorted(missing)}"
        threads = {conversations[m.key] for m in mails if m.vector}
        assert len(threads) == -(-len([m for m in mails if m.vector]) // VECTORS_PER_THREAD), "threaded"
        # Mallory (a hostile name) mentions the admin in a note on the hostile-subject conversation.
        status, body = sandbox.post(
            f"/api/conversations/{conversations['h-subject-from']}/notes", {"text": NOTE_TEXT}, user=MALLORY
        )
        assert status == 201, body
        yield World(
            sandbox=sandbox,
            base=f"http://127.0.0.1:{sandbox.http_port}",
            mails={m.key: m for m in mails},
            conversations=conversations,
            messages=messages,
        )
    except BaseException:
        sandbox.kill()
        raise
    assert sandbox.stop() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as chromium_browser:
        yield chromium_browser


# -- watching a browser context -------------------------------------------------------------------


_SESSIONS: dict[tuple[str, str], list[Any]] = {}  # (base URL, who) -> the session cookies


@dataclass
class Watcher:
    """One browser context with every detector attached; ``collect`` after each page."""

    browser: Browser
    base: str
    executed: list[tuple[str, str, str]] = field(default_factory=list)  # (page, frame url, marker)
    csp: list[dict[str, Any]] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (text, location url)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    leaks: list[tuple[str, str, str]] = field(default_factory=list)  # (resource type, url, frame url)
    popups: list[str] = field(default_factory=list)
    dom_problems: dict[str, list[str]] = field(default_factory=dict)  # where -> problems
    unreadable_frames: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = self.browser.new_context(
            viewport={"width": 1280, "height": 1000}, accept_downloads=True
        )
        self.context.add_init_script(INIT_SCRIPT)
        # Only requests to other hosts come to Python (matched in the driver: local ones stay fast).
        self.context.route(NOT_LOCAL, self._route)
        self.page = self.context.new_page()
        self._watch(self.page)
        self.context.on("page", self._popup)

    def close(self) -> None:
        self.context.close()

    def _watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("dialog", self._dialog)

    def _popup(self, page: Page) -> None:
        if page is not self.page:
            self.popups.append(page.url)
            self._watch(page)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append((message.text, str(message.location.get("url", ""))))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _route(self, route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in LOCAL_HOSTS:  # NOT_LOCAL is a regex: belt and braces
            route.continue_()
            return
        try:
            frame_url = request.frame.url
        except Exception:  # a request without a frame (a worker): still a leak
            frame_url = ""
        self.leaks.append((request.resource_type, request.url, frame_url))
        route.abort("blockedbyclient")

    # -- pages -----------------------------------------------------------------------------------

    def sign_in(self, name: str = ADMIN) -> None:
        """Through the sign-in page the first time; then with that session's cookie, to save time."""
        cookies = _SESSIONS.get((self.base, name))
        if cookies:
            self.context.add_cookies(cookies)
            return
        sign_in(self.page, self.base, name)
        self.collect(f"signed in as {name}")
        _SESSIONS[(self.base, name)] = list(self.context.cookies())

    def open(self, path: str, selector: str = "main") -> Page:
        self.page.goto(self.base + path, wait_until="domcontentloaded")
        self.page.wait_for_selector(selector)
        return self.page

    def body_frames(self) -> list[Frame]:
        """Every message frame of the page, loaded. They are lazy (loaded when scrolled near): the
        test makes them eager rather than scroll to each, which costs a rendering pass per frame."""
        count = self.page.locator("iframe.body").count()
        self.page.evaluate(
            "() => document.querySelectorAll('iframe.body').forEach(f => { f.loading = 'eager'; })"
        )
        frames: list[Frame] = (
            until(
                self.page,
                lambda: (
                    (found := [f for f in self.page.frames if MESSAGE_BODY.search(f.url)])
                    and len(found) == count
                    and found
                ),
                what=f"{count} message frames load",
            )
            if count
            else []
        )
        for frame in frames:
            frame.wait_for_load_state("load")
        return frames

    def visit_frame(self, frame: Frame, where: str, *, act: bool = True) -> None:
        """Check a mail's document, then (``act``) do what a person might in it: open folds, click
        links that don't leave; and fire every event a handler could wait for at every element (a
        handler that survived sanitizing would run, if the frame allowed scripts at all).

        Acting on a mail body opened on its own makes Chromium log "Blocked script execution" for
        Playwright's own input listeners there (the document is sandboxed): noise, not findings."""
        if not act:
            problems: list[str] = frame.evaluate(FRAME_DOM_PROBLEMS)
            if problems:
                self.dom_problems[where] = problems
            return
        found: dict[str, Any] = frame.evaluate(FRAME_VISIT)
        if found["problems"]:
            self.dom_problems[where] = found["problems"]
        for index in range(found["summaries"]):
            frame.locator("summary").nth(index).click(timeout=2000)
        for index in found["links"]:
            frame.locator("a").nth(index).click(timeout=2000, no_wait_after=True)

    def check_app_dom(self, where: str) -> None:
        problems: list[str] = self.page.main_frame.evaluate(APP_DOM_PROBLEMS)
        if problems:
            self.dom_problems[where] = problems

    def collect(self, where: str) -> None:
        """Read ``__xss`` and ``__csp`` from every frame of every page (call before navigating)."""
        self.page.wait_for_timeout(SETTLE_MS)
        for page in self.context.pages:
            for frame in page.frames:
                try:
                    found: dict[str, list[Any]] | None = frame.evaluate(READ_AND_CLEAR)
                except Exception as exc:  # a frame that went away or was never readable
                    self.unreadable_frames.append(f"{where}: {frame.url}: {exc}".splitlines()[0])
                    continue
                if found is None:
                    if frame.url not in {"about:blank", ""}:
                        self.unreadable_frames.append(f"{where}: {frame.url}: no init script")
                    continue
                self.executed.extend((where, frame.url, str(marker)) for marker in found["xss"])
                self.csp.extend({**entry, "where": where} for entry in found["csp"])

    # -- verdicts --------------------------------------------------------------------------------

    def app_csp_violations(self) -> list[Any]:
        """Violations in the app's own documents (not in a mail body): events, and console reports
        (a sandboxed mail document runs no listener, so there the console is the only witness)."""
        events = [entry for entry in self.csp if "/messages/" not in str(entry["document"])]
        logged = [(text, url) for text, url in self.console if _is_csp(text) and "/messages/" not in url]
        return [*events, *logged]

    def summary(self) -> str:
        directives = Counter(
            f"{e['directive']} {urlsplit(str(e['blocked'])).scheme or e['blocked']}" for e in self.csp
        )
        kinds = Counter(_console_kind(text) for text, _ in self.console)
        lines = [
            f"securitypolicyviolation events: {len(self.csp)}",
            *(f"  {count:4} {what}" for what, count in directives.most_common()),
            f"console errors: {len(self.console)}",
            *(f"  {count:4} {what}" for what, count in kinds.most_common()),
            f"unreadable frames: {len(self.unreadable_frames)}",
            *(f"  {line}" for line in self.unreadable_frames[:10]),
        ]
        return "\n".join(lines)

    def assert_nothing_ran(self) -> None:
        assert self.executed == [], f"executed: {self.executed}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.page_errors == [], (
            f"uncaught errors (a vector calling an undefined pwn?): {self.page_errors}"
        )
        assert self.popups == [], f"windows opened: {self.popups}"

    def assert_nothing_left(self) -> None:
        assert self.leaks == [], f"requests that left 127.0.0.1: {self.leaks}"


def _is_csp(text: str) -> bool:
    return "Content Security Policy" in text


def _console_kind(text: str) -> str:
    if _is_csp(text):
        directive = re.search(r"directive:? [\"']([a-z-]+)", text)
        return f"CSP {directive[1] if directive else 'other'}: " + (
            "JavaScript URL" if "JavaScript URL" in text else text.split(" violates", 1)[0].split(" '", 1)[0]
        )
    if "sandboxed" in text:
        return "sandbox: " + ("script blocked" if "script" in text.lower() else text[:60])
    if "ERR_BLOCKED_BY_CLIENT" in text:
        return "request aborted by the test (a leak)"
    return text[:80]


@pytest.fixture
def watcher(browser: Browser, world: World) -> Iterator[Watcher]:
    w = Watcher(browser, world.base)
    yield w
    print(f"\n{w.summary()}")  # the CSP summary: pytest shows it with -s or on failure
    w.close()


# -- the detectors themselves -----------------------------------------------------------------------


def test_the_detectors_see_what_runs_and_what_leaves(browser: Browser) -> None:
    """Positive control: the same machinery, on a page without CSP or sandbox, catches a handler,
    a script in a child frame, an alert, a CSP violation and a request to another host."""
    w = Watcher(browser, "http://127.0.0.1:9")
    try:
        control = (
            '<p style="color: red">styled</p>'
            f'<img src="data:," onerror="{pwn("control-img")}">'
            f'<iframe srcdoc="<script>{pwn("control-frame")}</script>"></iframe>'
            "<script>alert('control-alert')</script>"
        )
        w.page.route(
            "http://127.0.0.1:9/control",
            lambda route: route.fulfill(
                body=control,
                content_type="text/html",
                headers={"Content-Security-Policy": "style-src 'none'; script-src 'unsafe-inline'"},
            ),
        )
        w.page.goto("http://127.0.0.1:9/control")
        w.page.wait_for_function("() => document.querySelector('iframe').contentWindow.__xss.length > 0")
        w.page.evaluate(
            f"() => {{ const i = new Image(); i.src = '{EVIL}/control.png'; document.body.append(i); }}"
        )
        until(w.page, lambda: w.leaks, what="the remote image request is seen")
        w.collect("control")
        markers = {marker for _, _, marker in w.executed}
        assert markers == {"control-img", "control-frame", "alert:control-alert"}, w.executed
        assert any(e["directive"].startswith("style-src") for e in w.csp), w.csp
        assert w.leaks == [("image", f"{EVIL}/control.png", "http://127.0.0.1:9/control")]
    finally:
        w.close()


# -- the control: benign mail shows cleanly --------------------------------------------------------


def test_benign_mail_shows_without_a_single_violation(world: World, watcher: Watcher) -> None:
    watcher.sign_in()
    watcher.open("/", "table.conversations")
    watcher.check_app_dom("inbox")
    watcher.collect("inbox")
    conv = world.conversation("b-benign")
    watcher.open(f"/conversations/{conv}", "#timeline")
    frames = watcher.body_frames()
    assert len(frames) == 1
    frame = frames[0]
    assert frame.locator("h2").inner_text() == "Your order"
    assert frame.evaluate("() => document.querySelector('img').naturalWidth") == 1  # the inline image shows
    frame.locator("summary").click()  # the folded quote opens
    watcher.check_app_dom("benign conversation")
    watcher.visit_frame(frame, "benign frame")
    watcher.collect("benign conversation")
    watcher.open(frame.url.removeprefix(watcher.base), "body")
    watcher.visit_frame(watcher.page.main_frame, "benign body", act=False)
    watcher.collect("benign body")
    for path in ("/mentions", "/outbox"):
        watcher.open(path)
        watcher.check_app_dom(path)
        watcher.collect(path)

    assert watcher.csp == [], watcher.csp
    assert watcher.console == [], watcher.console
    assert watcher.dom_problems == {}, watcher.dom_problems
    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()


# -- the corpus --------------------------------------------------------------------------------------


def visit_conversation(watcher: Watcher, world: World, conversation_id: str) -> list[str]:
    """Open one conversation as a person would, poke at it, check it; the body URLs it framed.
    Problems are reported under the corpus mail's key (``v-script frame``, ``h-encoded page``)."""
    page = watcher.open(f"/conversations/{conversation_id}", "#timeline")
    body_urls: list[str] = []
    for frame in watcher.body_frames():
        url = frame.url.removeprefix(watcher.base)
        body_urls.append(url)
        watcher.visit_frame(frame, f"{world.mail_of(url)} frame")
    for y in range(100, 1000, 150):  # the real mouse, across what is in view (first messages)
        page.mouse.move(400, y)
    for summary in page.locator("#timeline details > summary").all()[:2]:  # the same for every message
        summary.click()
    for link in page.locator("ul.attachments a").all():
        link.hover()
    keys = sorted({k for k, c in world.conversations.items() if c == conversation_id})
    watcher.check_app_dom(f"{','.join(keys)} page")
    watcher.collect(",".join(keys))
    return body_urls


SHOWN_ELSEWHERE = {"b-benign", "r-remote-images"}  # their own tests
# Message bodies also opened as documents of their own: the CSP's sandbox directive alone must
# hold there. Those with live markup left (the inline-image breakouts), and one of each kind.
ON_THEIR_OWN = {
    *(f"v-{marker}" for marker in CID_BREAKOUTS),
    *(
        f"v-{marker}"
        for marker in ("script", "img-onerror", "svg-onload", "form-action", "meta-refresh-remote")
    ),
    *(f"v-{marker}" for marker in ("details-ontoggle", "input-autofocus", "mxss-noscript")),
    "h-svg-cid",
}


def test_hostile_mail_never_runs(world: World, watcher: Watcher) -> None:
    watcher.sign_in()

    # The inbox (every page of it): subjects, names and snippets are all hostile.
    path = "/"
    for _ in range(5):
        page = watcher.open(path, "#inbox-list")
        watcher.check_app_dom(f"inbox {path}")
        for row in page.locator("table.conversations tbody tr").all()[:5]:
            row.hover()
        watcher.collect(f"inbox {path}")
        more = page.locator("nav.pager a[rel=next]")
        if not more.count():
            break
        path = str(more.get_attribute("href"))

    conversations = sorted({c for k, c in world.conversations.items() if k not in SHOWN_ELSEWHERE})
    body_urls = [url for conv in conversations for url in visit_conversation(watcher, world, conv)]
    assert len(body_urls) >= len([m for m in world.mails.values() if m.vector]), "every vector was framed"

    # What the headers said is shown as text, exactly.
    page = watcher.open(f"/conversations/{world.conversation('h-subject-from')}", "#timeline")
    screenshot(page, "xss-conversation")
    subject = page.locator("h1").inner_text()
    assert f"<script>{pwn('subject-script')}</script>" in subject, subject
    assert f"onerror={pwn('from-name')}>" in page.locator("li.message header strong").first.inner_text()
    page = watcher.open(f"/conversations/{world.conversation('h-attachments')}", "#timeline")
    names = page.locator("ul.attachments a").all_inner_texts()
    assert any(f"onerror={pwn('att-quoted')}>" in name for name in names), names
    assert any(f"onload={pwn('att-2231-cont')}>" in name for name in names), names
    # An HTML attachment is downloaded, never shown.
    with page.expect_download() as download:
        page.locator("ul.attachments a", has_text="invoice.html").click()
    assert download.value.suggested_filename == "invoice.html"
    assert page.url.endswith(world.conversation("h-attachments"))
    watcher.collect("attachments")
    page = watcher.open(f"/conversations/{world.conversation('t-plain')}", "#timeline")
    assert f"<script>{pwn('text-script')}</script>" in page.locator("pre.body.text").first.inner_text()

    # Each message body as a document of its own (a person may open the frame in a tab): the
    # body's own CSP (with its sandbox directive) is all that protects it there.
    on_their_own = [url for url in body_urls if world.mail_of(url) in ON_THEIR_OWN]
    assert len(on_their_own) == len(ON_THEIR_OWN)
    for url in on_their_own:
        page = watcher.open(url, "body")
        watcher.visit_frame(page.main_frame, f"{world.mail_of(url)} body")
        page.mouse.move(300, 300)
        watcher.collect(f"{world.mail_of(url)} body")

    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_inline_image_rewrite_keeps_sanitized_markup(world: World, watcher: Watcher) -> None:
    watcher.sign_in()
    for marker in sorted(CID_BREAKOUTS):
        key = f"v-{marker}"
        message = next(m for m, mail in world.messages.items() if mail == key)
        page = watcher.open(f"/conversations/{world.conversation(key)}/messages/{message}/body", "body")
        watcher.visit_frame(page.main_frame, f"{key} body")
        watcher.collect(f"{key} body")
    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_remote_images_stay_blocked_until_asked(world: World, watcher: Watcher) -> None:
    watcher.sign_in()
    page = watcher.open(f"/conversations/{world.conversation('r-remote-images')}", "#timeline")
    frames = watcher.body_frames()
    assert len(frames) == 1
    watcher.visit_frame(frames[0], "remote images, blocked")
    watcher.collect("remote images, blocked")
    assert watcher.leaks == [], "nothing loads before the agent asks"

    page.get_by_role("link", name="Show remote images").click()
    until(
        page,
        lambda: {url for _, url, _ in watcher.leaks} >= set(REMOTE_IMAGES),
        what="the remote images load",
    )
    frame = frames[0]
    until(page, lambda: "images=1" in frame.url, what="the frame shows the images")
    frame.wait_for_load_state("load")
    page.wait_for_timeout(500)  # anything else the frame might load has had its chance
    watcher.collect("remote images, shown")
    watcher.visit_frame(frame, "remote images, shown")

    assert {kind for kind, _, _ in watcher.leaks} == {"image"}, watcher.leaks
    assert {url for _, url, _ in watcher.leaks} <= {*REMOTE_IMAGES, f"{EVIL}/srcset.png"}, watcher.leaks
    assert all("images=1" in frame_url for _, _, frame_url in watcher.leaks), watcher.leaks
    watcher.assert_nothing_ran()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_hostile_canned_response_is_inserted_sent_and_shown_as_text(world: World, watcher: Watcher) -> None:
    # Mallory (an admin with a hostile name, which the template also uses): the no-demo sandbox's
    # first admin, admin@localhost, can't send ("not an agent's email address": no dot in the domain).
    watcher.sign_in("Mallory")
    conv = world.conversation("c-canned-target")
    page = watcher.open(f"/conversations/{conv}", "#composer")
    options = page.locator("#canned-picker option").all_inner_texts()
    assert CANNED_NAME in options, options
    watcher.check_app_dom("composer")

    page.select_option("#canned-picker", CANNED_ID)
    text = until(
        page,
        lambda: (value := page.input_value("#reply-text")) and "Hello" in value and value,
        what="the canned response is inserted",
    )
    assert f"Hello {CUSTOMER_NAME}," in text, text  # the customer's name, literally
    assert f"<script>{pwn('canned-body')}</script>" in text, text
    assert f"</textarea><img src=x onerror={pwn('canned-textarea')}>" in text, text
    subject = page.input_value("#reply-subject")
    assert f"<script>{pwn('canned-subject')}</script>" in subject, subject
    watcher.check_app_dom("composer with canned")
    screenshot(page, "xss-composer-canned")
    watcher.collect("composer with canned")

    page.click("#send-reply")
    page.wait_for_selector("#composer .notice.ok")
    watcher.collect("reply sent")

    # The reply in the thread (its HTML part is made from the text, escaped) and in the outbox.
    visit_conversation(watcher, world, conv)
    reply = watcher.page.locator("li.message.outbound")
    assert reply.count() == 1
    if reply.locator("iframe.body").count():
        frame = reply.locator("iframe.body").element_handle().content_frame()
        assert frame is not None
        shown = frame.locator("body").inner_text()
    else:
        shown = reply.locator("pre.body.text").inner_text()
    assert f"<script>{pwn('canned-body')}</script>" in shown, shown
    page = watcher.open("/outbox", "table.outbox-list")
    watcher.check_app_dom("outbox")
    row = page.locator("table.outbox-list tbody tr").first.inner_text()
    assert f"<script>{pwn('canned-subject')}</script>" in row, row
    watcher.collect("outbox")
    raw = page.locator("table.outbox-list tbody tr a").first.get_attribute("href")
    response = page.goto(world.base + str(raw))
    assert response is not None
    assert response.headers["content-type"].startswith("text/plain")
    watcher.collect("outbox raw")

    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_hostile_people_notes_and_mentions(world: World, watcher: Watcher) -> None:
    conv = world.conversation("h-subject-from")
    watcher.page.goto(world.base + "/signin")
    assert watcher.page.get_by_role("button", name="Mallory").count() == 1
    watcher.check_app_dom("sign-in")
    watcher.collect("sign-in")
    watcher.sign_in()
    status, _ = world.sandbox.post(f"/api/conversations/{conv}/presence", {"state": "replying"}, user=MALLORY)
    assert status == 200
    page = watcher.open(f"/conversations/{conv}", "#timeline")
    until(page, lambda: "Mallory" in page.inner_text("#presence"), what="Mallory's presence is shown")
    note = page.locator("li.note .note-text").first.inner_text()
    assert f"<script>{pwn('note-script')}</script>" in note, note
    assert page.locator("#assign-to option", has_text="Mallory").count() == 1
    watcher.check_app_dom("conversation with note and presence")
    watcher.collect("conversation with note and presence")

    page = watcher.open("/mentions", ".mention-list")
    item = page.locator(".mention-item").first.inner_text()
    assert f"<script>{pwn('subject-script')}</script>" in item, item
    assert f"onerror={pwn('user-name')}>" in item, item
    watcher.check_app_dom("mentions")
    watcher.collect("mentions")

    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_pages_that_echo_the_url(world: World, watcher: Watcher) -> None:
    """Search terms, unknown ids and the sign-in redirect target come from the URL."""
    hostile = f"\"'><img src=x onerror={pwn('echo')}><script>{pwn('echo-script')}</script>"
    watcher.sign_in()
    for path in (
        f"/?q={quote(hostile)}",
        f"/?q={quote('from:' + hostile)}",
        f"/conversations/{quote(hostile, safe='')}",
        f"/outbox/{quote(hostile, safe='')}",
        f"/mentions?cursor={quote(hostile)}",
        f"/signin?next={quote('javascript:' + pwn('next'))}",
    ):
        watcher.page.goto(world.base + path)
        watcher.check_app_dom(path)
        watcher.collect(path)

    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert watcher.dom_problems == {}, watcher.dom_problems


def test_sign_in_never_sends_the_browser_elsewhere(world: World, watcher: Watcher) -> None:
    watcher.page.goto(f"{world.base}/signin?next={quote('/' + chr(9) + '/evil.example/next')}")
    watcher.page.get_by_role("button", name=ADMIN).click()
    watcher.page.wait_for_load_state("load")
    watcher.collect("sign-in with next=/<TAB>/evil.example/next")
    assert urlsplit(watcher.page.url).hostname == "127.0.0.1", watcher.page.url
    watcher.assert_nothing_ran()
    watcher.assert_nothing_left()
    assert watcher.app_csp_violations() == [], watcher.app_csp_violations()
    assert urlsplit(watcher.page.url).path == "/"
