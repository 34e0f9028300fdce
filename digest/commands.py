"""``/digest`` in chat and the API: read and change a person's subscription (pure DB functions).

The engine and the API call these with their session; they render the result with
:func:`describe` (catalogue keys ``digest_status_*``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.domain import Cadence
from core.messages import t
from core.models import Person, Subscription, utcnow
from core.privacy import DIGEST_EMAIL_PURPOSE, record_consent, withdraw_consent

__all__ = [
    "EMAIL_PURPOSE",
    "SubscriptionError",
    "SubscriptionStatus",
    "confirm_email",
    "describe",
    "remove_email",
    "request_email",
    "set_alerts",
    "set_subscription",
    "subscription_status",
]


class SubscriptionError(ValueError):
    """Invalid settings; ``code`` names the reason for the renderer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SubscriptionStatus:
    subscribed: bool  # a weekly subscription exists and is not off
    cadence: str
    weekday: int
    hour: int
    themes: list[str] = field(default_factory=list)
    language: str = "fr"
    paused: bool = False
    paused_reason: str | None = None
    last_sent_at: str | None = None
    email: str | None = None
    email_confirmed: bool = False
    alerts: bool = False


def _status(sub: Subscription | None) -> SubscriptionStatus:
    if sub is None:
        return SubscriptionStatus(False, str(Cadence.OFF), 0, 9)
    return SubscriptionStatus(
        subscribed=sub.cadence == Cadence.WEEKLY,
        cadence=str(sub.cadence),
        weekday=sub.weekday,
        hour=sub.hour,
        themes=list(sub.themes or []),
        language=sub.language,
        paused=sub.paused,
        paused_reason=sub.paused_reason,
        last_sent_at=sub.last_sent_at.isoformat() if sub.last_sent_at else None,
        email=sub.email,
        email_confirmed=sub.email_confirmed_at is not None,
        alerts=bool(sub.alerts),
    )


def subscription_status(session: Session, person_id: int) -> SubscriptionStatus:
    sub = session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    return _status(sub)


def set_subscription(
    session: Session,
    person_id: int,
    *,
    cadence: str | None = None,
    weekday: int | None = None,
    hour: int | None = None,
    themes: list[str] | None = None,
    language: str | None = None,
) -> SubscriptionStatus:
    """Create or update the subscription; ``None`` leaves a field unchanged.

    Turning it on (or changing it) also lifts a pause (e.g. the user unblocked the
    bot and wrote again). New subscribers start from now: no backlog is sent.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise SubscriptionError("no_person", f"unknown person {person_id}")
    if cadence is not None and cadence not in {c.value for c in Cadence}:
        raise SubscriptionError("cadence", f"cadence must be one of {[c.value for c in Cadence]}")
    if weekday is not None and not 0 <= weekday <= 6:
        raise SubscriptionError("weekday", "weekday must be 0 (Monday) to 6 (Sunday)")
    if hour is not None and not 0 <= hour <= 23:
        raise SubscriptionError("hour", "hour must be 0 to 23")
    if language is not None and language not in ("fr", "en"):
        raise SubscriptionError("language", "language must be 'fr' or 'en'")
    sub = session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    if sub is None:
        now = utcnow()
        sub = Subscription(
            person_id=person_id,
            cadence=Cadence.WEEKLY,
            weekday=0,
            hour=9,
            themes=[],
            language=person.language or "fr",
            created_at=now,
            watermark=now,
        )
        session.add(sub)
    if cadence is not None:
        sub.cadence = Cadence(cadence)
    if weekday is not None:
        sub.weekday = weekday
    if hour is not None:
        sub.hour = hour
    if themes is not None:
        sub.themes = [x.strip() for x in themes if x and x.strip()][:20]
    sub.language = language or person.language or sub.language or "fr"
    if sub.cadence == Cadence.WEEKLY:
        sub.paused = False
        sub.paused_reason = None
    session.flush()
    return _status(sub)


def describe(status: SubscriptionStatus, lang: str) -> str:
    """The status as one chat message."""
    if not status.subscribed:
        return t("digest_status_off", lang)
    if status.paused:
        return t("digest_status_paused", lang, reason=status.paused_reason or "?")
    themes = (
        t("digest_status_themes", lang, themes=", ".join(status.themes)) if status.themes else ""
    )
    lines = [
        t(
            "digest_status_weekly",
            lang,
            day=t(f"digest_weekday_{status.weekday}", lang),
            hour=status.hour,
            themes=themes,
        )
    ]
    if status.email:
        key = "digest_status_email" if status.email_confirmed else "digest_status_email_pending"
        lines.append(t(key, lang, email=status.email))
    if status.alerts:
        lines.append(t("digest_status_alerts", lang))
    return "\n".join(lines)


# --------------------------------------------------------------------------- e-mail, alerts
EMAIL_PURPOSE = DIGEST_EMAIL_PURPOSE  # recorded when an address is confirmed


def _subscription(session: Session, person_id: int) -> Subscription:
    sub = session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    if sub is None:
        set_subscription(session, person_id, cadence=Cadence.WEEKLY)
        sub = session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    assert sub is not None
    return sub


def request_email(session: Session, person_id: int, email: str) -> tuple[int, str]:
    """Store ``email`` as not yet confirmed (the digest is turned on if it was not);
    returns (subscription id, address) for the confirmation mail."""
    sub = _subscription(session, person_id)
    if sub.email != email:
        sub.email, sub.email_confirmed_at = email, None
    if sub.cadence != Cadence.WEEKLY:
        set_subscription(session, person_id, cadence=Cadence.WEEKLY)
    session.flush()
    return sub.id, email


def confirm_email(session: Session, sub: Subscription, *, now: dt.datetime, policy: str) -> bool:
    """The address was confirmed (the link was followed); False if it already was."""
    if sub.email_confirmed_at is not None:
        return False
    sub.email_confirmed_at = now
    record_consent(session, sub.person_id, purpose=EMAIL_PURPOSE, policy_version=policy, now=now)
    session.flush()
    return True


def remove_email(session: Session, sub: Subscription, *, now: dt.datetime) -> bool:
    """Stop e-mails (unsubscribe link, or the user in chat): the address is erased and the
    consent withdrawn; the digest stays in the web chat's inbox. False if there was none."""
    if sub.email is None:
        return False
    withdraw_consent(session, sub.person_id, purpose=EMAIL_PURPOSE, now=now)
    sub.email, sub.email_confirmed_at = None, None
    session.flush()
    return True


def set_alerts(session: Session, person_id: int, on: bool) -> SubscriptionStatus:
    """Instant alerts on or off (turning them on turns the digest on)."""
    sub = _subscription(session, person_id)
    sub.alerts = on
    if on and sub.cadence != Cadence.WEEKLY:
        return set_subscription(session, person_id, cadence=Cadence.WEEKLY)
    session.flush()
    return _status(sub)
