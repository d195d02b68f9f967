"""Structured input from chat forms (Slack's modal, WeCom's cards): validated field by field,
then stored through the same paths as the typed commands."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.commands.accounts import Context, find_account
from bot.commands.core import Reply, Request, Services, UserError
from bot.commands.logbook import KINDS, MAX_NOTE, _idempotency_key, _visit_reply
from bot.commands.people import check_can_write, identify
from storage.logbook import log_interaction

FORM_KINDS = tuple(dict.fromkeys(KINDS.values()))  # visit, call, meeting, email, review


@dataclass(frozen=True)
class VisitForm:
    account: str                 # the account key the form was opened for
    kind: str
    occurred_on: date | None
    notes: str
    next_date: date | None = None


def visit_form_errors(form: VisitForm, today: date) -> dict[str, str]:
    """Field -> error code; empty when the form can be saved."""
    errors: dict[str, str] = {}
    if form.kind not in FORM_KINDS:
        errors["kind"] = "form_kind"
    if form.occurred_on is None:
        errors["date"] = "form_date_missing"
    elif form.occurred_on > today:
        errors["date"] = "form_date_future"
    if not form.notes.strip():
        errors["notes"] = "form_notes_missing"
    elif len(form.notes) > MAX_NOTE:
        errors["notes"] = "form_notes_long"
    if form.next_date is not None:
        if form.next_date < today:
            errors["next"] = "form_next_past"
        elif form.occurred_on and form.next_date <= form.occurred_on:
            errors["next"] = "form_next_before"
    return errors


def person_locale(request: Request, services: Services) -> str:
    """The language to talk to this user in: the request's, their own, else the fallback."""
    if request.locale:
        return request.locale
    try:
        own = identify(request, services).locale
    except UserError:
        own = None
    return own or request.fallback_locale(services)


def submit_visit(request: Request, services: Services, form: VisitForm) -> Reply:
    """Log the interaction a form describes; a UserError if the user can't (unknown user,
    not their account) or the form is invalid (`form_invalid` with `fields`)."""
    person = identify(request, services)
    locale = request.locale or person.locale or request.fallback_locale(services)
    ctx = Context(person, services, locale, request)
    errors = visit_form_errors(form, services.today())
    if errors:
        raise UserError("form_invalid", fields=errors)
    match = find_account(form.account, ctx)
    check_can_write(person, services, match.account_id)
    row, created = log_interaction(
        services.engine, account_id=match.account_id, rep_id=person.id, kind=form.kind,
        occurred_on=form.occurred_on, summary=form.notes.strip(), next_date=form.next_date,
        source=request.platform, idempotency_key=_idempotency_key(ctx, "visit"))
    reply = _visit_reply(match, row, created, form.next_date, ctx)
    reply.locale = locale
    return reply
