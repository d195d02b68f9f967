"""Building the scheduler's parts from settings (used by `serve`, `scheduler`, `digest`)."""
from __future__ import annotations

import logging

from bot.commands import Services
from bot.scheduler.leader import Leader
from bot.scheduler.outbox import Outbox
from bot.scheduler.runner import Deliverer, Scheduler
from bot.settings import Settings

log = logging.getLogger(__name__)


def build_outbox(services: Services, settings: Settings) -> Outbox:
    slack = wecom = None
    if settings.slack_enabled:
        from bot.slack.app import web_client
        from bot.slack.sender import SlackSender
        slack = SlackSender(web_client(settings))
    if settings.wecom_enabled:
        from bot.wecom.client import build_client
        from bot.wecom.sender import WeComSender
        wecom = WeComSender(build_client(settings, services.engine), settings.wecom_agent_id)
    return Outbox(slack, wecom)


def rescorer(services: Services):
    from bot.scoring_jobs import NothingToScore, rescore

    def run(as_of):
        try:
            rescore(services.engine, services.scoring, as_of,
                    currency=services.settings.currency)
            services.accounts_changed()
        except NothingToScore as exc:  # an empty book, or rates missing: said, not raised
            log.warning("the book was not rescored: %s", exc)
    return run


def build_deliverer(services: Services, settings: Settings) -> Deliverer:
    return Deliverer(services, build_outbox(services, settings), settings,
                     rescore=rescorer(services), chart_processes=chart_processes())


def chart_processes() -> int:
    """Child processes for the digest charts: the cores but one (at least one)."""
    import os
    return max(1, (os.cpu_count() or 2) - 1)


def build_scheduler(services: Services, settings: Settings) -> Scheduler:
    return Scheduler(build_deliverer(services, settings), Leader(services.engine), settings,
                     rescore=rescorer(services))
