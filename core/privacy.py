"""Personal data rights (GDPR art. 15, 17, 20; OWASP ASVS L2 V8.3): export, erasure,
consent and retention.

Pure service functions: keyword-only arguments, the caller's session (the caller
commits). Nothing here touches the vector index: :func:`delete_person` returns the
ids of the needs it deleted so that the caller removes them from the index *after*
the commit (``MatchService.remove("need", id)``); it also bumps the catalogue
version, so an index loaded later (or by another worker) drops them too.

What erasure keeps, anonymised: introductions that were answered (funnel counts, no
person link, no message), introduction events, match events (``need_id`` nulled),
solutions registered by the user as organisation data (contact and ``submitted_by``
cleared), REX (contact link and consent cleared), and the ``deleted_persons`` counter.
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from core.db import bump_catalogue_version, get_meta, set_meta
from core.domain import IntroStatus
from core.models import (
    AuditLog,
    ChatIdentity,
    CommunityMember,
    ConsentRecord,
    ConversationState,
    DigestDelivery,
    Experience,
    FollowUp,
    Introduction,
    IntroductionEvent,
    MatchEvent,
    Need,
    Organisation,
    Outbox,
    Person,
    Solution,
    SolutionFollow,
    Subscription,
    as_utc,
)
from core.vectors import delete_vectors

__all__ = [
    "CONTACT_PURPOSES",
    "DELETED_COUNTER",
    "EXPORT_FORMAT",
    "REDACTED",
    "DeletionReport",
    "delete_person",
    "export_person",
    "record_consent",
    "retention_sweep",
    "withdraw_consent",
]

EXPORT_FORMAT = "piu-personal-data/1"
#: Meta key counting erased persons (the only trace kept of them).
DELETED_COUNTER = "deleted_persons"
#: Meta key counting persons erased by the retention sweep (included in the above).
RETENTION_COUNTER = "retention_deleted_persons"
#: Consent purposes under which contact details (e-mail, phone, name) are stored.
#: ``solution_contact`` is the start-up registration flow's purpose.
CONTACT_PURPOSES = ("contact", "solution_contact")
#: Other buyers may ask to be introduced about a REX one told in chat (/rex).
REX_CONTACT_PURPOSE = "rex_contact"
#: Consent purpose of the digest's e-mail address (given in chat, confirmed by a link).
DIGEST_EMAIL_PURPOSE = "digest_email"
#: What replaces an erased person's strings in other people's stored messages.
REDACTED = "[…]"
#: Outbox payload kind of the retention warning (catalogue key ``privacy_retention_warning``).
RETENTION_WARNING_KEY = "privacy_retention_warning"

_PENDING = (IntroStatus.REQUESTED, IntroStatus.QUEUED)


@dataclass
class DeletionReport:
    """What :func:`delete_person` did (counts only: no personal data)."""

    person_id: int
    found: bool = True
    need_ids: list[int] = field(default_factory=list)  # remove from the index after commit
    identities: int = 0
    consents: int = 0
    needs: int = 0
    solutions_kept: int = 0  # registered solutions kept as organisation data
    experiences_unlinked: int = 0
    introductions_expired: int = 0
    introductions_anonymised: int = 0
    outbox_deleted: int = 0
    subscriptions: int = 0
    digest_deliveries: int = 0
    community_memberships: int = 0
    redacted_rows: int = 0  # other people's messages / audit entries scrubbed

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "need_ids"} | {
            "need_ids": list(self.need_ids)
        }


# --------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # enums
    return value


def _row(obj: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of an ORM row, JSON-ready."""
    skipped = set(skip)
    return {
        c.key: _jsonable(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in skipped
    }


def _rowcount(result: Result[Any]) -> int:
    """Rows hit by an UPDATE or DELETE (``Session.execute`` types its result as ``Result``)."""
    return typing.cast("CursorResult[Any]", result).rowcount


def _json_fragment(text: str) -> str:
    """How ``text`` appears inside a stored JSON document (escaped, ASCII-only)."""
    return json.dumps(text)[1:-1]


def _scrub(value: Any, needles: list[str]) -> tuple[Any, bool]:
    """``value`` (a JSON structure) with every needle replaced; whether anything changed."""
    if isinstance(value, str):
        out = value
        for needle in needles:
            out = out.replace(needle, REDACTED)
        return out, out != value
    if isinstance(value, list):
        changed = False
        items = []
        for item in value:
            new, hit = _scrub(item, needles)
            items.append(new)
            changed |= hit
        return items, changed
    if isinstance(value, dict):
        changed = False
        mapping = {}
        for key, item in value.items():
            new, hit = _scrub(item, needles)
            mapping[key] = new
            changed |= hit
        return mapping, changed
    return value, False


# --------------------------------------------------------------------------- export


def export_person(session: Session, person_id: int) -> dict[str, Any]:
    """Everything stored about a person, as a JSON-ready dict (right of access/portability).

    Other people's identifiers are left out (an introduction shows the other party's
    public label only). Raises ``LookupError`` for an unknown person.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person {person_id}")
    org = session.get(Organisation, person.organisation_id) if person.organisation_id else None

    def rows(model: Any, *where: Any, skip: Iterable[str] = ()) -> list[dict[str, Any]]:
        return [_row(r, skip=skip) for r in session.scalars(select(model).where(*where))]

    def with_events(intro: Introduction, skip: tuple[str, ...]) -> dict[str, Any]:
        out = _row(intro, skip=skip)
        out["events"] = rows(
            IntroductionEvent,
            IntroductionEvent.introduction_id == intro.id,
            skip=("introduction_id",),
        )
        return out

    subscription = session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    deliveries = (
        rows(DigestDelivery, DigestDelivery.subscription_id == subscription.id)
        if subscription is not None
        else []
    )
    state = session.scalar(
        select(ConversationState).where(ConversationState.person_id == person_id)
    )
    requested = session.scalars(
        select(Introduction).where(Introduction.requester_id == person_id).order_by(Introduction.id)
    )
    received = session.scalars(
        select(Introduction)
        .where(Introduction.target_person_id == person_id)
        .order_by(Introduction.id)
    )
    return {
        "format": EXPORT_FORMAT,
        "person": _row(person),
        "organisation": _row(org) if org is not None else None,
        "chat_identities": rows(ChatIdentity, ChatIdentity.person_id == person_id),
        "consents": rows(ConsentRecord, ConsentRecord.person_id == person_id),
        "needs": rows(Need, Need.owner_id == person_id),
        "registered_solutions": rows(Solution, Solution.submitted_by_id == person_id),
        "experiences_as_contact": rows(Experience, Experience.contact_person_id == person_id),
        "introductions_requested": [with_events(i, ("target_person_id",)) for i in requested],
        "introductions_received": [with_events(i, ("requester_id",)) for i in received],
        "followed_solutions": rows(SolutionFollow, SolutionFollow.person_id == person_id),
        "subscription": _row(subscription) if subscription is not None else None,
        "digest_deliveries": deliveries,
        "conversation_state": _row(state) if state is not None else None,
        "outbox": rows(Outbox, Outbox.person_id == person_id),
        "follow_ups": rows(FollowUp, FollowUp.person_id == person_id),
        "community_memberships": rows(CommunityMember, CommunityMember.person_id == person_id),
    }


# --------------------------------------------------------------------------- erasure


def delete_person(session: Session, person_id: int, *, now: dt.datetime) -> DeletionReport:
    """Erase a person's personal data everywhere (right to erasure); the caller commits.

    After the commit, remove ``report.need_ids`` from the index.
    """
    now = as_utc(now)
    report = DeletionReport(person_id=person_id)
    person = session.get(Person, person_id)
    if person is None:
        report.found = False
        return report
    # strings that may have been copied into other people's messages or audit entries
    needles = [s for s in (person.email, person.phone) if s and len(s) >= 5]
    if person.display_name and len(person.display_name.strip()) >= 3:
        needles.append(person.display_name.strip())

    # -- introductions: pending ones expire; all lose their link to the person --------
    intros = list(
        session.scalars(
            select(Introduction).where(
                or_(
                    Introduction.requester_id == person_id,
                    Introduction.target_person_id == person_id,
                )
            )
        )
    )
    intro_ids = [i.id for i in intros]
    for intro in intros:
        if intro.requester_id == person_id and intro.message:
            needles.append(intro.message)
            needles.append(intro.message[:60])  # digests quote a snippet of it
            intro.message = None
        if intro.status in _PENDING:
            intro.status = IntroStatus.EXPIRED
            intro.updated_at = now
            session.add(
                IntroductionEvent(
                    introduction_id=intro.id,
                    status=IntroStatus.EXPIRED,
                    at=now,
                    note="participant erased their data",
                )
            )
            report.introductions_expired += 1
        if intro.requester_id == person_id:
            intro.requester_id = None
        if intro.target_person_id == person_id:
            intro.target_person_id = None
        report.introductions_anonymised += 1
    needles = sorted({n for n in needles if n.strip()}, key=len, reverse=True)

    # -- other people's messages about these introductions (requests with buttons,
    #    accepted introductions carrying this person's contact) are withdrawn ----------
    if intro_ids:
        linked = session.scalars(
            select(Outbox.id).where(
                Outbox.person_id != person_id,
                Outbox.payload["introduction_id"].as_integer().in_(intro_ids),
            )
        ).all()
        if linked:
            report.outbox_deleted += _rowcount(
                session.execute(delete(Outbox).where(Outbox.id.in_(linked)))
            )

    # -- thematic communities: the person leaves every group -------------------------------
    report.community_memberships = _rowcount(
        session.execute(delete(CommunityMember).where(CommunityMember.person_id == person_id))
    )

    # -- needs (and the links other rows keep to them) ----------------------------------
    need_ids = list(session.scalars(select(Need.id).where(Need.owner_id == person_id)))
    if need_ids:
        session.execute(
            update(MatchEvent).where(MatchEvent.need_id.in_(need_ids)).values(need_id=None)
        )
        session.execute(
            update(Experience).where(Experience.need_id.in_(need_ids)).values(need_id=None)
        )
        session.execute(
            update(Introduction).where(Introduction.need_id.in_(need_ids)).values(need_id=None)
        )
        session.execute(
            update(Introduction)
            .where(Introduction.requester_need_id.in_(need_ids))
            .values(requester_need_id=None)
        )
        session.execute(update(FollowUp).where(FollowUp.need_id.in_(need_ids)).values(need_id=None))
        session.execute(delete(Need).where(Need.id.in_(need_ids)))
        delete_vectors(session, "need", need_ids)  # embeddings of the needs' texts
    report.need_ids = need_ids
    report.needs = len(need_ids)

    # -- solutions stay as organisation data; REX lose their contact --------------------
    report.solutions_kept = _rowcount(
        session.execute(
            update(Solution)
            .where(Solution.submitted_by_id == person_id)
            .values(contact=None, submitted_by_id=None, updated_at=now)
        )
    )
    report.experiences_unlinked = _rowcount(
        session.execute(
            update(Experience)
            .where(Experience.contact_person_id == person_id)
            .values(
                contact_person_id=None, contact_consent=False, contact_role=None, updated_at=now
            )
        )
    )

    # -- rows that belong to the person ----------------------------------------------------
    sub_ids = list(
        session.scalars(select(Subscription.id).where(Subscription.person_id == person_id))
    )
    if sub_ids:
        report.digest_deliveries = _rowcount(
            session.execute(
                delete(DigestDelivery).where(DigestDelivery.subscription_id.in_(sub_ids))
            )
        )
    report.subscriptions = _rowcount(
        session.execute(delete(Subscription).where(Subscription.person_id == person_id))
    )
    report.outbox_deleted += _rowcount(
        session.execute(delete(Outbox).where(Outbox.person_id == person_id))
    )
    session.execute(delete(ConversationState).where(ConversationState.person_id == person_id))
    session.execute(delete(FollowUp).where(FollowUp.person_id == person_id))
    session.execute(delete(SolutionFollow).where(SolutionFollow.person_id == person_id))
    report.consents = _rowcount(
        session.execute(delete(ConsentRecord).where(ConsentRecord.person_id == person_id))
    )
    report.identities = _rowcount(
        session.execute(delete(ChatIdentity).where(ChatIdentity.person_id == person_id))
    )
    session.flush()
    session.execute(delete(Person).where(Person.id == person_id))

    # -- audit entries about the person (e.g. an admin export) lose the link --------------
    session.execute(
        update(AuditLog)
        .where(AuditLog.entity_type == "person", AuditLog.entity_id == person_id)
        .values(entity_id=None)
    )

    # -- copies of the person's strings elsewhere (digests, messages, audit) -------------
    report.redacted_rows = _redact_copies(session, needles)

    set_meta(session, DELETED_COUNTER, str(int(get_meta(session, DELETED_COUNTER) or 0) + 1))
    bump_catalogue_version(session)
    session.flush()
    return report


def _redact_copies(session: Session, needles: list[str]) -> int:
    """Replace the erased person's strings in other stored JSON documents."""
    if not needles:
        return 0
    changed = 0
    targets: list[tuple[Any, Any, str]] = [
        (Outbox, Outbox.payload, "payload"),
        (DigestDelivery, DigestDelivery.payload, "payload"),
        (AuditLog, AuditLog.detail, "detail"),
    ]
    for model, column, attr in targets:
        text = cast(column, String)
        hits = session.scalars(
            select(model).where(
                or_(*(text.contains(_json_fragment(n), autoescape=True) for n in needles))
            )
        ).all()
        for obj in hits:
            new, hit = _scrub(getattr(obj, attr), needles)
            if hit:
                setattr(obj, attr, new)
                flag_modified(obj, attr)
                changed += 1
    for event in session.scalars(
        select(IntroductionEvent).where(
            or_(*(IntroductionEvent.note.contains(n, autoescape=True) for n in needles))
        )
    ):
        event.note, _ = _scrub(event.note, needles)
        changed += 1
    return changed


# --------------------------------------------------------------------------- consent


def record_consent(
    session: Session, person_id: int, *, purpose: str, policy_version: str, now: dt.datetime
) -> ConsentRecord:
    """Record that a person agreed to ``purpose`` under ``policy_version`` at ``now``."""
    record = ConsentRecord(
        person_id=person_id, purpose=purpose, policy_version=policy_version, given_at=as_utc(now)
    )
    session.add(record)
    session.flush()
    return record


def active_consents(session: Session, person_id: int) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.person_id == person_id, ConsentRecord.withdrawn_at.is_(None))
            .order_by(ConsentRecord.id)
        )
    )


def withdraw_consent(session: Session, person_id: int, *, purpose: str, now: dt.datetime) -> int:
    """Withdraw ``purpose``; returns how many records were withdrawn.

    Withdrawing a contact purpose (:data:`CONTACT_PURPOSES`) clears the contact details
    stored under it (e-mail, phone, name, the contact of the solutions the person
    registered) once no other contact consent remains.
    """
    now = as_utc(now)
    records = [r for r in active_consents(session, person_id) if r.purpose == purpose]
    for record in records:
        record.withdrawn_at = now
    if purpose == REX_CONTACT_PURPOSE:  # no more requests about the REX they told
        session.execute(
            update(Experience)
            .where(Experience.contact_person_id == person_id)
            .values(contact_consent=False, updated_at=now)
        )
    if purpose in CONTACT_PURPOSES:
        remaining = [
            r for r in active_consents(session, person_id) if r.purpose in CONTACT_PURPOSES
        ]
        person = session.get(Person, person_id)
        if person is not None and not remaining:
            email = person.email
            person.email = None
            person.phone = None
            person.display_name = None
            person.share_contact = False
            if email:
                session.execute(
                    update(Solution)
                    .where(Solution.submitted_by_id == person_id, Solution.contact == email)
                    .values(contact=None, updated_at=now)
                )
    if purpose == DIGEST_EMAIL_PURPOSE:  # the digest's address goes with its consent
        session.execute(
            update(Subscription)
            .where(Subscription.person_id == person_id)
            .values(email=None, email_confirmed_at=None)
        )
    session.flush()
    return len(records)


# --------------------------------------------------------------------------- retention


def retention_cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """``now`` minus ``years`` calendar years (29 February becomes 28 February)."""
    now = as_utc(now)
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def retention_sweep(
    session: Session, *, now: dt.datetime, years: int, warn_days: int = 30, dry_run: bool = False
) -> tuple[list[int], list[int]]:
    """Warn, then erase, users inactive for ``years``; returns (warned ids, deleted ids).

    A user inactive for ``years`` minus ``warn_days`` gets one warning (an outbox
    message; ``Person.retention_warned_at`` is set). Activity after the warning resets
    it. A user is erased once inactive for ``years`` *and* warned at least
    ``warn_days`` ago, so nobody is erased without the full notice period. The
    caller commits, then removes the deleted needs from the index (the catalogue
    version is bumped, so a later index load drops them anyway).
    """
    now = as_utc(now)
    cutoff = retention_cutoff(now, years)
    grace = dt.timedelta(days=warn_days)

    # activity after a warning cancels it (the engine refreshes last_active_at)
    reset = session.scalars(
        select(Person).where(
            Person.retention_warned_at.is_not(None),
            Person.last_active_at > Person.retention_warned_at,
        )
    ).all()
    if not dry_run:
        for person in reset:
            person.retention_warned_at = None
    reset_ids = {p.id for p in reset}

    doomed = [
        pid
        for pid in session.scalars(
            select(Person.id)
            .where(
                Person.last_active_at < cutoff,
                Person.retention_warned_at.is_not(None),
                Person.retention_warned_at <= now - grace,
            )
            .order_by(Person.id)
        )
        if pid not in reset_ids
    ]
    to_warn = list(
        session.scalars(
            select(Person)
            .where(
                Person.last_active_at < cutoff + grace,
                or_(Person.retention_warned_at.is_(None), Person.id.in_(reset_ids or [-1])),
            )
            .order_by(Person.id)
        )
    )
    to_warn = [p for p in to_warn if as_utc(p.last_active_at) < cutoff + grace]
    warned: list[int] = []
    for person in to_warn:
        warned.append(person.id)
        if dry_run:
            continue
        deletion = max(now + grace, _deletion_date(person.last_active_at, years))
        session.add(
            Outbox(
                person_id=person.id,
                payload={
                    "kind": "privacy",
                    "key": RETENTION_WARNING_KEY,
                    "params": {"date": deletion.date().isoformat(), "years": years},
                },
                created_at=now,
            )
        )
        person.retention_warned_at = now
    deleted: list[int] = []
    for pid in doomed:
        if not dry_run:
            delete_person(session, pid, now=now)
            set_meta(
                session,
                RETENTION_COUNTER,
                str(int(get_meta(session, RETENTION_COUNTER) or 0) + 1),
            )
        deleted.append(pid)
    session.flush()
    return warned, deleted


def _deletion_date(last_active: dt.datetime, years: int) -> dt.datetime:
    last = as_utc(last_active)
    try:
        return last.replace(year=last.year + years)
    except ValueError:
        return last.replace(year=last.year + years, day=28)


def deleted_count(session: Session) -> int:
    """How many persons were erased (anonymised statistic)."""
    return int(get_meta(session, DELETED_COUNTER) or 0)


def persons_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Person)) or 0)
