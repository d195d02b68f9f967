"""Sweeps that send what is due, and the APScheduler 3 jobs that run them on time.

A sweep looks at every rep with a channel: the latest digest (or reminder) slot in the
rep's own timezone. Within the grace window it is claimed in the ledger and sent (once:
the ledger decides); past the grace window it is recorded as skipped. Sweeps are
idempotent, so they run at each slot time (cron jobs per timezone), when the instance
becomes the leader (catch-up after downtime), and every few minutes as a safety net.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.commands import Request, Services, dispatch
from bot.scheduler.chart import tier_chart
from bot.scheduler.leader import Leader
from bot.scheduler.outbox import Outbox, Recipient
from bot.settings import Settings
from bot.commands.accounts import why_at_risk
from storage import deliveries
from storage.cards import newly_at_risk
from storage.inbound import prune_events
from storage.logbook import visits_due
from storage.models import Rep
from storage.scores import current_run, scores_currency
from storage.schedule import DAYS, latest_digest_slot, latest_reminder_slot, parse_clock, \
    parse_weekly

log = logging.getLogger("tierbot.scheduler")
KINDS = ("digest", "reminder", "alert")
ALERTS_PER_DAY = 10


class Deliverer:
    def __init__(self, services: Services, outbox: Outbox, settings: Settings, *,
                 sleep=time.sleep, backoff: float = 2.0, rescore=None, workers: int = 4,
                 chart_processes: int = 0):
        self.services, self.outbox, self.settings = services, outbox, settings
        # Charts are pure CPU under the interpreter lock: drawn in child processes they
        # neither slow the bot's answers (same process) nor serialise a digest run.
        self.chart_processes = chart_processes
        self._chart_pool = None
        self._pool_lock = threading.Lock()
        # Deliveries to different reps go out side by side: each waits on the platform's
        # API most of its time (and the ledger keeps each one single).
        self.workers = workers
        self.engine = services.engine
        self._sleep, self._backoff = sleep, backoff
        self._rescore = rescore  # callable(as_of) that rescored the book, or None

    # ---- who and when ----------------------------------------------------------------
    def recipients(self, only: set[str] | None = None) -> list[Recipient]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(
                Rep.id, Rep.key, Rep.name, Rep.role, Rep.slack_user_id, Rep.wecom_userid,
                Rep.timezone, Rep.locale, Rep.digest_at, Rep.reminder_at).order_by(Rep.id)).all()
        reps = [Recipient(*r) for r in rows]
        return [r for r in reps if only is None or r.key in only]

    def zone(self, rep: Recipient) -> str:
        return rep.timezone or self.settings.timezone

    def _alert_run(self):
        """(ledger period, when the run was made, UTC) of the current run's alerts, or None."""
        with self.engine.connect() as conn:
            run = current_run(conn)
        if run is None:
            return None
        made = run.created_at
        if made.tzinfo is None:  # SQLite hands timestamps back without their zone (UTC)
            made = made.replace(tzinfo=timezone.utc)
        return deliveries.alert_period(run.id), made

    def digest_at(self, rep: Recipient):
        """(weekday, time) of the rep's digest: their own, else the settings'."""
        return parse_weekly(rep.digest_at or self.settings.digest_time, self.settings.digest_day)

    def reminder_at(self, rep: Recipient):
        return parse_clock(rep.reminder_at or self.settings.reminder_time)

    def slot(self, kind: str, rep: Recipient, now: datetime):
        if kind == "digest":
            return latest_digest_slot(now, self.zone(rep), *self.digest_at(rep))
        return latest_reminder_slot(now, self.zone(rep), self.reminder_at(rep))

    # ---- sweeping ----------------------------------------------------------------------
    def sweep(self, kinds=KINDS, *, now: datetime | None = None,
              only: set[str] | None = None) -> Counter:
        """Send every due slot of `kinds`; returns how many were sent, failed, skipped."""
        now = now or datetime.now(timezone.utc)
        grace = timedelta(hours=self.settings.grace_hours)
        counts: Counter = Counter()
        if "digest" in kinds:
            self.ensure_fresh_scores(now)
        # Alerts go out once per score run (the current one), at the reminder time.
        alert_run = self._alert_run() if "alert" in kinds else None
        # Slots already settled are left alone without a round trip each (a week and a
        # day back covers every slot a sweep can look at).
        done = deliveries.settled(self.engine, now - timedelta(days=8))
        due = []
        for rep in self.recipients(only):
            channel = self.outbox.channel(rep)
            if channel is None:
                continue
            for kind in kinds:
                if kind == "alert" and alert_run is None:
                    continue
                slot = self.slot(kind, rep, now)
                period = alert_run[0] if kind == "alert" else slot.period
                if (rep.id, kind, period, channel) in done:
                    continue
                if kind == "alert" and slot.at < alert_run[1]:
                    # The run was made after this slot: it can't have been missed at it.
                    # Its alerts wait for the rep's next reminder time.
                    continue
                if now - slot.at > grace:
                    if deliveries.skip(self.engine, rep.id, kind, period, channel,
                                       f"missed: the bot was not running within "
                                       f"{self.settings.grace_hours:g} h of {slot.at:%Y-%m-%d %H:%M} UTC",
                                       now=now):
                        counts["skipped"] += 1
                    continue
                due.append((rep, channel, kind, period, slot.local_day))  # claim decides
        counts.update(self._deliver_all(due, now))
        counts.pop(None, None)
        return counts

    def _deliver_all(self, due: list, now: datetime) -> Counter:
        """Deliver each (rep, channel, kind, period, day) on the worker threads."""
        if self.workers <= 1 or len(due) <= 1:
            return Counter(self.deliver(*item, now) for item in due)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers, "tierbot-deliver") as pool:
            return Counter(pool.map(lambda item: self.deliver(*item, now), due))

    def send_now(self, kind: str = "digest", *, only: set[str] | None = None,
                 now: datetime | None = None) -> Counter:
        """The current period's digests for everyone (or `only`), respecting the ledger."""
        now = now or datetime.now(timezone.utc)
        counts: Counter = Counter()
        if kind == "digest":
            self.ensure_fresh_scores(now)
        due = []
        for rep in self.recipients(only):
            channel = self.outbox.channel(rep)
            if channel is None:
                counts["no channel"] += 1
                continue
            local = now.astimezone(ZoneInfo(self.zone(rep))).date()
            year, week, _ = local.isocalendar()
            period = f"{year}-W{week:02d}" if kind == "digest" else local.isoformat()
            due.append((rep, channel, kind, period, local))
        for status, n in self._deliver_all(due, now).items():
            counts[status or "already"] += n
        return counts

    def ensure_fresh_scores(self, now: datetime) -> None:
        """Digests go out on today's scores: rescore first if the nightly run didn't happen."""
        if self._rescore is None:
            return
        today = now.astimezone(ZoneInfo(self.settings.timezone)).date()
        with self.engine.connect() as conn:
            run = current_run(conn)
        latest = run.as_of if run is not None else None
        if latest is None or latest < today - timedelta(days=1):
            log.info("scores are from %s; rescoring before the digests", latest)
            self._rescore(today)

    # ---- one delivery ------------------------------------------------------------------
    def deliver(self, rep: Recipient, channel: str, kind: str, period: str, local_day: date,
                now: datetime) -> str | None:
        """Claim, build, send with retries, record. None if it was not ours to send."""
        delivery_id = deliveries.claim(self.engine, rep.id, kind, period, channel, now=now)
        if delivery_id is None:
            return None
        try:
            send = self._build(rep, channel, kind, period, local_day)
        except Exception as exc:
            log.exception("building the %s for %s failed", kind, rep.key)
            deliveries.finish(self.engine, delivery_id, "failed",
                              error=f"could not build it: {type(exc).__name__}")
            return "failed"
        if send is None:
            deliveries.finish(self.engine, delivery_id, "skipped", error="nothing due")
            return "skipped"
        for attempt in range(1, self.settings.send_attempts + 1):
            result = send()
            deliveries.record_attempt(self.engine, delivery_id, result.error)
            if result.ok:
                deliveries.finish(self.engine, delivery_id, "sent", ref=result.ref)
                return "sent"
            if not result.retryable or attempt == self.settings.send_attempts:
                break
            self._sleep(min(self._backoff * 2 ** (attempt - 1), 60))
        log.warning("%s for %s failed after %d tries: %s", kind, rep.key, attempt, result.error)
        deliveries.finish(self.engine, delivery_id, "failed", error=result.error)
        return "failed"

    def _build(self, rep: Recipient, channel: str, kind: str, period: str, local_day: date):
        locale = rep.locale or ("zh" if channel == "wecom" else self.settings.locale)
        if kind == "digest":
            template, context, locale = self.digest_content(rep, locale)
            pending = self._chart(context, locale) if context.get("book", {}).get("as_of") \
                else None

            def send():
                chart = None
                if pending is not None:
                    try:
                        chart = pending.result(timeout=120)
                    except Exception:
                        log.exception("chart for %s failed; sending the text alone", rep.key)
                return self.outbox.digest(rep, channel, template, context, locale, chart)
            return send
        if kind == "alert":
            run, fresh = newly_at_risk(self.engine, rep.id, limit=ALERTS_PER_DAY,
                                       run_id=deliveries.alert_run_id(period))
            if not fresh:
                return None
            currency = scores_currency(self.engine, self.settings.currency, run)
            for r in fresh:
                r["reason"] = why_at_risk(r["details"], locale, currency)
            return lambda: self.outbox.alert(rep, channel, fresh, locale, period)
        rows = [r for r in visits_due(self.engine, rep.id, local_day,
                                      self.services.scoring.cadence_days) if r["due"] <= local_day]
        if not rows:
            return None
        limit = self.settings.reminders_per_day
        shown, more = rows[:limit], max(0, len(rows) - limit)
        return lambda: self.outbox.reminder(rep, channel, shown, more, locale, local_day, period)

    def _chart(self, context: dict, locale: str) -> Future:
        """The chart's PNG, as a future: drawn in a child process when configured."""
        if self.chart_processes > 0:
            with self._pool_lock:
                if self._chart_pool is None:
                    import multiprocessing
                    self._chart_pool = ProcessPoolExecutor(
                        self.chart_processes, mp_context=multiprocessing.get_context("spawn"))
            return self._chart_pool.submit(tier_chart, context["book"], locale)
        done: Future = Future()
        try:
            done.set_result(tier_chart(context["book"], locale))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def close(self) -> None:
        if self._chart_pool is not None:
            self._chart_pool.shutdown(wait=True, cancel_futures=True)
            self._chart_pool = None

    def digest_content(self, rep: Recipient, locale: str | None = None):
        """The `/digest` reply for the rep (through the command layer), plus, for managers,
        their team's failed deliveries of the past week."""
        reply = dispatch(Request("console", rep.key, "digest", locale=locale), self.services)
        context = dict(reply.context)
        if rep.role in ("manager", "admin") and reply.template == "digest":
            team = None if rep.role == "admin" else self._team(rep.id)
            context["failed"] = deliveries.recent(
                self.engine, status="failed", recipient_ids=team, limit=10,
                since=datetime.now(timezone.utc) - timedelta(days=7))
        return reply.template, context, reply.locale

    def _team(self, manager_id: int) -> set[int]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(Rep.id).where(
                sa.or_(Rep.manager_id == manager_id, Rep.id == manager_id))).scalars())


class Scheduler:
    """APScheduler 3 running the sweeps, on the one instance that holds the leadership."""

    def __init__(self, deliverer: Deliverer, leader: Leader, settings: Settings, *,
                 rescore=None):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.deliverer, self.leader, self.settings = deliverer, leader, settings
        self._rescore = rescore
        self._was_leading = False
        self.aps = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": int(settings.grace_hours * 3600) or 1})
        self._add_jobs()

    def _add_jobs(self) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        add = self.aps.add_job
        add(self.tick, IntervalTrigger(seconds=15), id="leader",
            next_run_time=datetime.now(timezone.utc))
        add(self.sweep, IntervalTrigger(minutes=10), id="safety-sweep")
        for (zone, weekday, at) in self.digest_times():
            # Day names, not numbers: APScheduler 3 counts Monday as 0, cron counts Sunday.
            add(self.sweep, CronTrigger(day_of_week=DAYS[weekday], hour=at.hour,
                                        minute=at.minute, timezone=zone),
                args=[("digest",)], id=f"digest:{zone}:{DAYS[weekday]}:{at:%H%M}")
        for (zone, at) in self.reminder_times():
            add(self.sweep, CronTrigger(hour=at.hour, minute=at.minute, timezone=zone),
                args=[("reminder", "alert")], id=f"reminder:{zone}:{at:%H%M}")
        if self._rescore is not None:
            at = parse_clock(self.settings.rescore_time)
            add(self.rescore, CronTrigger(hour=at.hour, minute=at.minute,
                                          timezone=self.settings.timezone), id="rescore")
        window = timedelta(seconds=self.settings.wecom_callback_window)
        add(lambda: prune_events(self.deliverer.engine, window=window),
            CronTrigger(hour=4, minute=17), id="prune-inbound")

    def digest_times(self) -> set[tuple[str, int, object]]:
        d = self.deliverer
        return {(d.zone(r), *d.digest_at(r)) for r in self._reachable()}

    def reminder_times(self) -> set[tuple[str, object]]:
        d = self.deliverer
        return {(d.zone(r), d.reminder_at(r)) for r in self._reachable()}

    def _reachable(self) -> list[Recipient]:
        d = self.deliverer
        return [r for r in d.recipients() if d.outbox.channel(r)]

    def start(self) -> None:
        self.aps.start()

    def shutdown(self) -> None:
        self.aps.shutdown(wait=False)
        self.deliverer.close()
        self.leader.release()

    def tick(self) -> None:
        """Keep or win the leadership; a new leader catches up on what was missed."""
        leading = self.leader.acquire()
        if leading and not self._was_leading:
            log.info("this instance now runs the scheduler (%s)", self.leader.me)
            released = deliveries.release_orphans(self.deliverer.engine)
            if released:
                log.info("%d deliveries left half-done by a stopped instance will be sent", released)
            self._was_leading = True
            self.sweep()
        self._was_leading = leading

    def sweep(self, kinds=KINDS) -> None:
        if not self.leader.leading:
            return
        counts = self.deliverer.sweep(kinds)
        if counts:
            log.info("sweep %s: %s", "+".join(kinds), dict(counts))

    def rescore(self) -> None:
        if self.leader.leading and self._rescore is not None:
            self._rescore(datetime.now(ZoneInfo(self.settings.timezone)).date())
