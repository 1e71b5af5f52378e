"""Demo data for a newcomer's first ``make run``: Acme's mailboxes, its team, and a few days of mail.

The mail covers what a shared inbox meets in its first week: a support thread continued once by
``In-Reply-To`` and once by subject only, a sales lead who follows up, a billing question with a
PDF, a newsletter, an out-of-office reply, German and Japanese mail, a mail to two mailboxes, an
HTML mail with an inline screenshot, an urgent one from a big customer and one spam. Message-IDs
are fixed (``<demo-N@domain>``), so sending the demo twice is deduplicated by ingest.
"""

from __future__ import annotations

import smtplib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr


@dataclass(frozen=True)
class DemoMailbox:
    address: str
    display_name: str
    signature: str = ""  # a template, like canned responses


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    role: str  # "admin", "agent" or "finance"
    title: str = ""
    calendar_url: str = ""


DEMO_MAILBOXES: tuple[DemoMailbox, ...] = (
    DemoMailbox(
        "support@acme.test", "Acme Support", "{{ agent.name }}\nAcme Support · https://help.acme.test"
    ),
    DemoMailbox(
        "sales@acme.test", "Acme Sales", "{{ agent.name }}, {{ agent.title }}\nAcme Inc. · https://acme.test"
    ),
    DemoMailbox("billing@acme.test", "Acme Billing", "Acme Billing · billing@acme.test"),
)

DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin@acme.test", "Ada Admin", "admin"),
    DemoUser(
        "agent1@acme.test", "Sam Rivera", "agent", "Account Executive", "https://cal.acme.test/sam-rivera"
    ),
    DemoUser(
        "agent2@acme.test", "Priya Shah", "agent", "Solutions Engineer", "https://cal.acme.test/priya-shah"
    ),
    DemoUser(
        "agent3@acme.test", "Jonas Weber", "agent", "Billing Specialist", "https://cal.acme.test/jonas-weber"
    ),
    DemoUser("finance@acme.test", "Fiona Finch", "finance"),
)

DEMO_COMPANY = "Acme Inc."

DEMO_DOMAINS: frozenset[str] = frozenset(box.address.rpartition("@")[2] for box in DEMO_MAILBOXES)

SUPPORT, SALES, BILLING = (box.address for box in DEMO_MAILBOXES)


@dataclass(frozen=True)
class DemoMail:
    mail_from: str  # the envelope sender; "" is the null sender of automatic replies
    rcpt_to: list[str]
    raw: bytes


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


def _tiny_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF (Helvetica text, correct xref offsets)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = " T* ".join(f"({escape(line)}) Tj" for line in lines)
    stream = f"BT /F1 12 Tf 16 TL 72 720 Td {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def _tiny_png(width: int = 32, height: int = 20) -> bytes:
    """A valid RGB PNG: a red-framed white box, like a cropped error dialog."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def pixel(x: int, y: int) -> bytes:
        edge = x in (0, width - 1) or y in (0, height - 1)
        return b"\xd0\x21\x21" if edge else b"\xff\xff\xff"

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _message(
    number: int,
    sender: tuple[str, str],
    to: list[str],
    subject: str,
    sent_at: datetime,
    *,
    body: str,
    cte: str | None = None,
    **headers: str,
) -> EmailMessage:
    name, address = sender
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((name, address))
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<demo-{number}@{address.rpartition('@')[2]}>"
    for header, value in headers.items():
        message[header.replace("_", "-")] = value
    message.set_content(body, cte=cte)
    return message


def _mail(message: EmailMessage, mail_from: str | None = None) -> DemoMail:
    """Envelope it as the sender's server would: only the Acme addresses are delivered to Acme."""
    addresses = [
        address.addr_spec
        for field in ("To", "Cc")
        for header in message.get_all(field, [])
        for address in header.addresses
    ]
    rcpt_to = [address for address in addresses if address.rpartition("@")[2] in DEMO_DOMAINS]
    sender = message["From"].addresses[0].addr_spec if mail_from is None else mail_from
    return DemoMail(mail_from=sender, rcpt_to=rcpt_to, raw=message.as_bytes())


def demo_messages(now: datetime | None = None) -> list[DemoMail]:
    """The demo mail in the order it was "sent", dated over the last four and a half days."""
    now = now or datetime.now(UTC)

    def ago(days: int, hours: int, tz: timezone = UTC) -> datetime:
        return (now - timedelta(days=days, hours=hours)).replace(microsecond=0).astimezone(tz)

    maria = ("Maria Lopez", "maria.lopez@example.com")
    tom = ("Tom Becker", "tom.becker@globex.example")
    login_subject = "Can't log in after resetting my password"
    pricing_subject = "Pricing for 50 seats + a product demo?"
    rollout_subject = "Enterprise rollout: SSO, support SLA and licensing for 2,000 users"
    builders: list[Callable[[], DemoMail]] = []

    def add(build: Callable[[], DemoMail]) -> Callable[[], DemoMail]:
        builders.append(build)
        return build

    @add
    def login_problem() -> DemoMail:
        return _mail(
            _message(
                1,
                maria,
                [SUPPORT],
                login_subject,
                ago(4, 6, _tz(-5)),
                body="Hi Acme team,\n\n"
                "I reset my password this morning using the link you emailed me, but now the login page\n"
                'just says "Invalid credentials" with the new password. I tried twice and also in a\n'
                "private window. Our team has a deadline on Friday, so I'd appreciate a quick look.\n\n"
                "Thanks,\nMaria Lopez\nOperations Lead, Example Co.\n",
            )
        )

    @add
    def pricing_request() -> DemoMail:
        return _mail(
            _message(
                2,
                tom,
                [SALES],
                pricing_subject,
                ago(4, 2, _tz(1)),
                body="Hello,\n\n"
                "we're evaluating shared inbox tools for our customer success team (about 50 people).\n"
                "Could you send me your pricing for 50 seats on an annual plan, and do you have time\n"
                "for a 30-minute demo next week? Tuesday or Wednesday afternoon CET would work.\n\n"
                "Best regards,\nTom Becker\nHead of Customer Success, Globex\n",
            )
        )

    @add
    def login_follow_up() -> DemoMail:
        return _mail(
            _message(
                3,
                maria,
                [SUPPORT],
                f"Re: {login_subject}",
                ago(3, 20, _tz(-5)),
                body="Quick update: I also get the error on my phone, so it isn't the browser.\n"
                "My username is maria.lopez@example.com in case that helps.\n\nMaria\n\n"
                f"On {format_datetime(ago(4, 6, _tz(-5)))}, Maria Lopez wrote:\n"
                "> I reset my password this morning using the link you emailed me, but now the login\n"
                '> page just says "Invalid credentials" with the new password.\n',
                In_Reply_To="<demo-1@example.com>",
                References="<demo-1@example.com>",
            )
        )

    @add
    def refund_request() -> DemoMail:
        message = _message(
            4,
            ("Carol Nguyen", "carol.nguyen@initech.example"),
            [BILLING],
            "Duplicate charge on invoice INV-2024-0042 - refund?",
            ago(3, 5, _tz(-8)),
            body="Hello Acme Billing,\n\n"
            "our card was charged twice for invoice INV-2024-0042 ($1,188.00 on the 3rd and again on\n"
            "the 4th). I've attached the invoice. Could you refund the duplicate charge and confirm\n"
            "once it's on its way?\n\n"
            "Kind regards,\nCarol Nguyen\nAccounts Payable, Initech\n",
        )
        invoice = _tiny_pdf(
            [
                "Acme Inc. - Invoice INV-2024-0042",
                "Bill to: Initech, Accounts Payable",
                "Acme Shared Inbox, Team plan, 12 months: USD 1,188.00",
                "Total due: USD 1,188.00",
            ]
        )
        message.add_attachment(invoice, maintype="application", subtype="pdf", filename="INV-2024-0042.pdf")
        return _mail(message)

    @add
    def pricing_follow_up() -> DemoMail:
        return _mail(
            _message(
                5,
                tom,
                [SALES],
                f"Re: {pricing_subject}",
                ago(3, 1, _tz(1)),
                body="One more thing I forgot: we need SAML single sign-on (we use Okta), and our legal\n"
                "team will ask where the data is stored. Could you include that in the offer?\n\n"
                "Thanks,\nTom\n\n"
                f"On {format_datetime(ago(4, 2, _tz(1)))}, Tom Becker wrote:\n"
                "> Could you send me your pricing for 50 seats on an annual plan, and do you have time\n"
                "> for a 30-minute demo next week?\n",
                In_Reply_To="<demo-2@globex.example>",
                References="<demo-2@globex.example>",
            )
        )

    @add
    def newsletter() -> DemoMail:
        message = _message(
            6,
            ("The Support Ops Digest", "digest@news.example.org"),
            [SUPPORT],
            "This week: 5 ways to cut first-response time",
            ago(2, 18),
            body="THE SUPPORT OPS DIGEST\n\n"
            "1. Triage rules that actually work\n2. Macros without the robot voice\n"
            "3. Measuring first-response time honestly\n\n"
            "Read online: https://news.example.org/digest/42\n"
            "Unsubscribe: https://news.example.org/unsubscribe?u=acme-support\n",
            List_Id="The Support Ops Digest <digest.news.example.org>",
            List_Unsubscribe="<mailto:unsubscribe@news.example.org?subject=unsubscribe>,"
            " <https://news.example.org/unsubscribe?u=acme-support>",
            List_Unsubscribe_Post="List-Unsubscribe=One-Click",
            Precedence="bulk",
        )
        message.add_alternative(
            '<!doctype html><html><body style="font-family:sans-serif">'
            '<h1 style="color:#2b5797">The Support Ops Digest</h1>'
            "<ol>"
            '<li><a href="https://news.example.org/digest/42#triage">Triage rules that actually work</a></li>'
            '<li><a href="https://news.example.org/digest/42#macros">Macros without the robot voice</a></li>'
            '<li><a href="https://news.example.org/digest/42#frt">Measuring first-response time honestly</a>'
            "</li></ol>"
            '<p style="font-size:small"><a href="https://news.example.org/unsubscribe?u=acme-support">'
            "Unsubscribe</a></p>"
            '<img src="https://news.example.org/open.gif?u=acme-support" width="1" height="1" alt="">'
            "</body></html>\n",
            subtype="html",
        )
        return _mail(message, mail_from="bounces+acme-support=acme.test@news.example.org")

    @add
    def german() -> DemoMail:
        return _mail(
            _message(
                7,
                ("Jürgen Müller", "juergen.mueller@example.org"),
                [SUPPORT],
                "Synchronisierung schlägt fehl \N{EN DASH} größere Dateien werden übersprungen",
                ago(2, 9, _tz(1)),
                body="Sehr geehrte Damen und Herren,\n\n"
                "seit dem Update am Montag überspringt die Synchronisierung alle Dateien, die größer als\n"
                "etwa 20 MB sind. Kleinere Dateien werden problemlos übertragen. Die Fehlermeldung lautet:\n"
                "„Übertragung abgebrochen (Zeitüberschreitung)“.\n\n"
                "Können Sie uns bitte mitteilen, ob das ein bekanntes Problem ist?\n\n"
                "Mit freundlichen Grüßen\nJürgen Müller\nIT-Leitung, Beispiel GmbH\n",
                cte="8bit",  # as many mail programs send it: raw UTF-8, which needs 8BITMIME
            )
        )

    @add
    def enterprise_rollout() -> DemoMail:
        return _mail(
            _message(
                8,
                ("Olivia Park", "olivia.park@bigcorp.example"),
                [SUPPORT, SALES],
                rollout_subject,
                ago(2, 3, _tz(-4)),
                body="Hi both teams,\n\n"
                "BigCorp is planning to roll Acme out to 2,000 users across three regions in Q3.\n"
                "Sales: we'd need an enterprise quote including SSO and a 99.9% uptime commitment.\n"
                "Support: what does your premium support SLA look like (response times, phone support)?\n\n"
                "I've copied Raj, who runs our IT service desk.\n\n"
                "Best,\nOlivia Park\nVP Operations, BigCorp\n",
                Cc="Raj Patel <raj.patel@bigcorp.example>",
            )
        )

    @add
    def out_of_office() -> DemoMail:
        message = _message(
            9,
            ("Raj Patel", "raj.patel@bigcorp.example"),
            [SUPPORT],
            f"Automatic reply: {rollout_subject}",
            ago(2, 3, _tz(-4)) + timedelta(minutes=1),
            body="Thank you for your message. I am out of the office until Monday with limited access to\n"
            "email. For urgent IT issues please contact servicedesk@bigcorp.example.\n\nRaj Patel\n",
            Auto_Submitted="auto-replied",
            X_Auto_Response_Suppress="All",
        )
        return _mail(message, mail_from="")

    @add
    def japanese() -> DemoMail:
        message = EmailMessage(policy=SMTP)
        message.set_raw("From", formataddr(("山田 太郎", "taro.yamada@example.net"), charset="iso-2022-jp"))
        message["To"] = SUPPORT
        message.set_raw("Subject", Header("請求書の宛名変更について", "iso-2022-jp").encode())
        message["Date"] = format_datetime(ago(1, 15, _tz(9)))
        message["Message-ID"] = "<demo-10@example.net>"
        message.set_content(
            "Acme サポート御中\n\n"
            "いつもお世話になっております。山田です。\n"
            "来月から請求書の宛名を\n"
            "「株式会社サンプル 経理部」に\n"
            "変更していただけますでしょうか。\n"
            "お手数をおかけしますが、\n"
            "よろしくお願いいたします。\n\n"
            "山田 太郎\n",
            charset="iso-2022-jp",
            cte="7bit",
        )
        return _mail(message, mail_from="taro.yamada@example.net")

    @add
    def screenshot() -> DemoMail:
        message = _message(
            11,
            ("Ken Adams", "ken.adams@initech.example"),
            [SUPPORT],
            'Dashboard shows "Error 502" - screenshot inside',
            ago(1, 8, _tz(-8)),
            body='Hi,\n\nthe reports dashboard shows "Error 502" since this morning (screenshot in the\n'
            "HTML version of this mail). Other pages load fine.\n\nKen\n",
        )
        message.add_alternative(
            "<html><body><p>Hi,</p><p>the reports dashboard shows <b>Error 502</b> since this morning:</p>"
            '<p><img src="cid:screenshot-1@initech.example" alt="Screenshot of the error"></p>'
            "<p>Other pages load fine.</p><p>Ken</p></body></html>\n",
            subtype="html",
        )
        html = next(part for part in message.iter_parts() if part.get_content_type() == "text/html")
        html.add_related(
            _tiny_png(),
            maintype="image",
            subtype="png",
            cid="<screenshot-1@initech.example>",
            filename="error-502.png",
        )
        return _mail(message)

    @add
    def login_second_follow_up() -> DemoMail:
        # Written as a new mail with the same subject: no In-Reply-To, no References.
        return _mail(
            _message(
                12,
                maria,
                [SUPPORT],
                f"Re: {login_subject}",
                ago(1, 2, _tz(-5)),
                body="Hello again, any news on this? I still can't log in and I'm now locked out of the\n"
                "weekly report. Could someone call me at +1 555 0100?\n\nMaria\n",
            )
        )

    @add
    def billing_address() -> DemoMail:
        return _mail(
            _message(
                13,
                ("Lena Fischer", "lena.fischer@example.org"),
                [BILLING],
                "How do I update our billing address?",
                ago(0, 20, _tz(1)),
                body="Hi,\n\nwe moved offices. Where can I change the billing address that appears on our\n"
                "invoices? The new address is Hauptstrasse 5, 10115 Berlin.\n\nThanks,\nLena\n",
            )
        )

    @add
    def urgent_outage() -> DemoMail:
        return _mail(
            _message(
                14,
                ("Marcus Chen", "marcus.chen@bigcorp.example"),
                [SUPPORT],
                "URGENT: API returns 429 for every request since 09:00 UTC",
                ago(0, 5, _tz(-4)),
                body="Hi Acme support,\n\nsince 09:00 UTC every API call from our integration gets HTTP 429\n"
                "Too Many Requests, even at a handful of requests per minute. This blocks our order\n"
                "processing for 2,000 users. Please escalate.\n\n"
                "Marcus Chen\nPlatform Engineering, BigCorp\n",
                Importance="high",
                X_Priority="1 (Highest)",
            )
        )

    @add
    def spam() -> DemoMail:
        message = _message(
            15,
            ("Rewards Center", "promo@lucky-rewards.example"),
            [SUPPORT],
            "Congratulations!!! Claim your $500 gift card now",
            ago(0, 3),
            body="You have been selected! Click here to claim your $500 gift card before it expires:\n"
            "http://lucky-rewards.example/claim?id=8831\n",
            # Read by the sandbox's SES stand-in: this mail gets the verdicts SES gives spam.
            X_Mailroom_Test_Verdict="spam=FAIL, spf=FAIL, dkim=FAIL, dmarc=FAIL, dmarcPolicy=reject",
        )
        return _mail(message)

    return [build() for build in builders]


def send_demo_mail(host: str, port: int) -> int:
    """Send the demo mail over SMTP, in order; returns how many mails were sent."""
    mails = demo_messages()
    with smtplib.SMTP(host, port, local_hostname="demo.sandbox.test", timeout=60) as smtp:
        smtp.ehlo()
        for mail in mails:
            options = ["BODY=8BITMIME"] if not mail.raw.isascii() and smtp.has_extn("8bitmime") else []
            refused = smtp.sendmail(mail.mail_from, mail.rcpt_to, mail.raw, mail_options=options)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
    return len(mails)
