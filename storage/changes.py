"""Changes managers make from chat: reassigning accounts and overriding tiers, audited."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.engine import write_transaction
from storage.models import Account, AuditEntry, ScoreSnapshot, TierOverride
from storage.scores import current_run_id


def _now() -> datetime:
    return datetime.now(timezone.utc)


def reassign(engine: Engine, *, account_id: int, new_owner_id: int, actor_id: int) -> int | None:
    """Give the account a new owner; returns the previous owner's id."""
    with write_transaction(engine) as conn:
        old = conn.execute(sa.select(Account.owner_id).where(Account.id == account_id)).scalar()
        conn.execute(sa.update(Account).where(Account.id == account_id).values(owner_id=new_owner_id))
        conn.execute(sa.insert(AuditEntry).values(
            actor_id=actor_id, action="assign", account_id=account_id, at=_now(),
            details=json.dumps({"from": old, "to": new_owner_id})))
    return old


def set_override(engine: Engine, *, account_id: int, tier: str, reason: str,
                 expires_on: date | None, actor_id: int, actor_name: str, today: date) -> str | None:
    """Record an override and show it on the latest snapshot at once (the next rescore would
    anyway). Returns the tier the account had."""
    with write_transaction(engine) as conn:
        conn.execute(sa.update(TierOverride)
                     .where(TierOverride.account_id == account_id, TierOverride.cleared_at.is_(None))
                     .values(cleared_at=_now(), cleared_by_id=actor_id))
        conn.execute(sa.insert(TierOverride).values(
            account_id=account_id, tier=tier, reason=reason, set_by_id=actor_id,
            expires_on=expires_on, created_at=_now()))
        conn.execute(sa.insert(AuditEntry).values(
            actor_id=actor_id, action="override", account_id=account_id, at=_now(),
            details=json.dumps({"tier": tier, "reason": reason,
                                "until": expires_on.isoformat() if expires_on else None},
                               ensure_ascii=False)))
        snap = _latest_snapshot(conn, account_id)
        if snap is None:
            return None
        details = json.loads(snap.details or "{}")
        if snap.tier_rule != "override":
            # The model's verdict and its tier history, to come back exactly on clearing.
            details["model"] = {"tier": snap.tier, "rule": snap.tier_rule,
                                "matched": details.get("matched", {}),
                                "previous_tier": snap.previous_tier,
                                "tier_since": snap.tier_since.isoformat()
                                if snap.tier_since else None}
        details["matched"] = {"reason": reason, "by": actor_name,
                              "until": expires_on.isoformat() if expires_on else None}
        changed = snap.tier != tier
        conn.execute(sa.update(ScoreSnapshot).where(ScoreSnapshot.id == snap.id).values(
            tier=tier, tier_rule="override", details=json.dumps(details, ensure_ascii=False),
            previous_tier=snap.tier if changed else snap.previous_tier,
            tier_since=today if changed else snap.tier_since))
        return snap.tier


def clear_override(engine: Engine, *, account_id: int, actor_id: int, today: date) -> bool:
    """Clear the account's override; the scored tier comes back at once if it is known."""
    with write_transaction(engine) as conn:
        cleared = conn.execute(
            sa.update(TierOverride)
            .where(TierOverride.account_id == account_id, TierOverride.cleared_at.is_(None))
            .values(cleared_at=_now(), cleared_by_id=actor_id)).rowcount
        if not cleared:
            return False
        conn.execute(sa.insert(AuditEntry).values(actor_id=actor_id, action="override-clear",
                                                  account_id=account_id, at=_now()))
        snap = _latest_snapshot(conn, account_id)
        if snap is not None and snap.tier_rule == "override":
            details = json.loads(snap.details or "{}")
            model = details.pop("model", None)
            if model:
                details["matched"] = model["matched"]
                if "previous_tier" in model:
                    # Set and cleared within this run: as if the override never was (no
                    # "was key" for a tier the account only had by hand, for a while).
                    previous = model["previous_tier"]
                    since = date.fromisoformat(model["tier_since"]) if model["tier_since"] \
                        else None
                else:
                    # The override was in force when the run scored: the account was shown
                    # in the override's tier until now.
                    changed = snap.tier != model["tier"]
                    previous = snap.tier if changed else snap.previous_tier
                    since = today if changed else snap.tier_since
                conn.execute(sa.update(ScoreSnapshot).where(ScoreSnapshot.id == snap.id).values(
                    tier=model["tier"], tier_rule=model["rule"],
                    details=json.dumps(details, ensure_ascii=False),
                    previous_tier=previous, tier_since=since))
        return True


def _latest_snapshot(conn, account_id: int):
    run = current_run_id(conn)
    if run is None:
        return None
    return conn.execute(sa.select(ScoreSnapshot).where(
        ScoreSnapshot.run_id == run, ScoreSnapshot.account_id == account_id)).first()
