"""E-mail delivery: signed links (double opt-in, unsubscribe), the messages, the SMTP relay.

* Links carry ``<subscription id>.<expiry>.<signature>``: an HMAC-SHA256 (key
  ``PIU_EMAIL_SECRET``) over the purpose, the subscription, the expiry and the address,
  so a link dies when it expires or when the address changes. Unsubscribe links do not
  expire (RFC 8058: they must keep working from an old mail).
* Every mail has a plain-text and an HTML part (everything escaped, no remote content),
  ``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.
* :class:`SmtpMailer` sends through the configured relay (STARTTLS, login); a 5xx
  refusal of the recipient or the message raises :class:`MailRefused` (the subscription
  is paused), anything else :class:`MailTemporary` (retried on the next run).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import quote, urlencode

from core.config import Settings
from core.messages import t

__all__ = [
    "CONFIRM",
    "UNSUBSCRIBE",
    "MailRefused",
    "MailTemporary",
    "Mailer",
    "SmtpMailer",
    "card_url",
    "confirm_url",
    "confirmation_message",
    "digest_message",
    "mailer_for",
    "send_confirmation",
    "sign",
    "unsubscribe_url",
    "verify",
]

CONFIRM, UNSUBSCRIBE = "confirm", "unsubscribe"
#: Outside production only, when PIU_EMAIL_SECRET is unset (production refuses to start).
_DEV_SECRET = "piu-development-email-secret"


# -- signed links ----------------------------------------------------------------------------
def _secret(settings: Settings) -> bytes:
    secret = settings.email_secret
    return (secret.get_secret_value() if secret else _DEV_SECRET).encode()


def _mac(settings: Settings, purpose: str, sub_id: int, expires: int, email: str) -> str:
    message = f"{purpose}|{sub_id}|{expires}|{email.lower()}".encode()
    digest = hmac.new(_secret(settings), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(
    settings: Settings, purpose: str, sub_id: int, email: str, *, expires: dt.datetime | None
) -> str:
    """A token for ``purpose`` on subscription ``sub_id`` at ``email`` (None: no expiry)."""
    stamp = int(expires.timestamp()) if expires is not None else 0
    return f"{sub_id}.{stamp}.{_mac(settings, purpose, sub_id, stamp, email)}"


def parse(token: str) -> tuple[int, int, str] | None:
    """(subscription id, expiry, signature) of a well-formed token, else None."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if len(parts[0]) > 9 or len(parts[1]) > 12 or len(parts[2]) > 64:
        return None
    return int(parts[0]), int(parts[1]), parts[2]


def verify(
    settings: Settings, purpose: str, token: str, email: str | None, *, now: dt.datetime
) -> bool:
    """Whether ``token`` is valid for ``purpose`` and the subscription's current ``email``."""
    parsed = parse(token)
    if parsed is None or not email:
        return False
    sub_id, stamp, mac = parsed
    if stamp and stamp < now.timestamp():
        return False
    return hmac.compare_digest(mac, _mac(settings, purpose, sub_id, stamp, email))


def _base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def confirm_url(settings: Settings, token: str) -> str:
    return f"{_base(settings)}/api/digest/email/confirm?{urlencode({'token': token})}"


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{_base(settings)}/api/digest/email/unsubscribe?{urlencode({'token': token})}"


def card_url(settings: Settings, action: str) -> str:
    """The web chat opening on a digest button's card (``digest:sol:12``)."""
    return f"{_base(settings)}/?open={quote(action, safe=':')}"


# -- messages ---------------------------------------------------------------------------------
_STYLE = (
    "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.45;color:#1d2b36;"
    "max-width:640px;margin:0 auto;padding:16px"
)
_BUTTON = (
    "display:inline-block;margin:4px 6px 4px 0;padding:6px 12px;border-radius:6px;"
    "background:#e8f0fe;color:#0b57d0;text-decoration:none"
)


def _html_text(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.split("\n"))


def _envelope(settings: Settings, to: str, subject: str, msg_id: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = msg_id or make_msgid(domain="piu.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def digest_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    parts: list[tuple[str, list[list[tuple[str, str]]]]],
    lang: str,
    unsubscribe: str,
    message_id: str | None = None,
) -> EmailMessage:
    """The digest (its chat parts: text and button rows) as one text + HTML mail."""
    msg = _envelope(settings, to, subject, message_id)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    plain: list[str] = []
    rich: list[str] = []
    for text, rows in parts:
        plain.append(text)
        rich.append(f"<p>{_html_text(text)}</p>")
        links = [(label, card_url(settings, action)) for row in rows for label, action in row]
        if links:
            plain.append("\n".join(f"→ {label} : {url}" for label, url in links))
            rich.append(
                "<p>"
                + "".join(
                    f'<a href="{html.escape(url)}" style="{_BUTTON}">{html.escape(label)}</a>'
                    for label, url in links
                )
                + "</p>"
            )
    footer = t("email_footer", lang, url=unsubscribe)
    plain.append("-- \n" + footer)
    rich.append(
        '<hr style="border:none;border-top:1px solid #ccd"><p style="font-size:13px;color:#555">'
        + html.escape(t("email_footer_html", lang))
        + f' <a href="{html.escape(unsubscribe)}">'
        + html.escape(t("email_unsubscribe_link", lang))
        + "</a></p>"
    )
    msg.set_content("\n\n".join(plain))
    msg.add_alternative(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        f'<body><div style="{_STYLE}">{"".join(rich)}</div></body></html>',
        subtype="html",
    )
    return msg


def confirmation_message(settings: Settings, *, to: str, url: str, lang: str) -> EmailMessage:
    """The double opt-in mail: one link, nothing else is sent before it is followed."""
    msg = _envelope(settings, to, t("email_confirm_subject", lang), None)
    hours = settings.email_confirm_hours
    msg.set_content(t("email_confirm_body", lang, url=url, hours=hours))
    body = _html_text(t("email_confirm_body_html", lang, hours=hours))
    msg.add_alternative(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"></head>'
        f'<body><div style="{_STYLE}"><p>{body}</p>'
        f'<p><a href="{html.escape(url)}" style="{_BUTTON}">'
        f"{html.escape(t('email_confirm_button', lang))}</a></p></div></body></html>",
        subtype="html",
    )
    return msg


# -- SMTP -------------------------------------------------------------------------------------
class MailRefused(Exception):
    """A permanent refusal (5xx) of this recipient or message: do not retry."""


class MailTemporary(Exception):
    """A temporary failure (4xx, connection, relay misconfigured): retry later."""


class Mailer(Protocol):
    def send(self, msg: EmailMessage) -> None: ...


class SmtpMailer:
    """Sends one message per connection through the configured relay (blocking: run it in
    a thread)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("PIU_SMTP_HOST is not set")
        self.settings = settings

    def send(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(str(s.smtp_host), s.smtp_port, timeout=s.smtp_timeout) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.smtp_username:
                    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                    smtp.login(s.smtp_username, password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _classify(code, reply) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as exc:
            # our side (sender address, credentials): never the recipient's fault
            raise MailTemporary(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailTemporary(repr(exc)) from exc


def _classify(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    if 500 <= code < 600:
        return MailRefused(f"{code} {text}"[:300])
    return MailTemporary(f"{code} {text}"[:300])


def mailer_for(settings: Settings) -> SmtpMailer | None:
    """The configured relay, or None when PIU_SMTP_HOST is unset (api/wiring.py builds it)."""
    return SmtpMailer(settings) if settings.smtp_host else None


def send_confirmation(
    settings: Settings, mailer: Mailer, sub_id: int, email: str, lang: str, *, now: dt.datetime
) -> None:
    """The double opt-in mail for ``email`` (raises MailRefused / MailTemporary)."""
    expires = now + dt.timedelta(hours=settings.email_confirm_hours)
    token = sign(settings, CONFIRM, sub_id, email, expires=expires)
    mailer.send(
        confirmation_message(settings, to=email, url=confirm_url(settings, token), lang=lang)
    )
