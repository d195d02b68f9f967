"""Helpers for tests of the chat commands (the `services` fixture is in conftest.py)."""
from datetime import date

from bot.commands import Request, Services, dispatch
from bot.scoring_config import load_scoring_config
from bot.settings import Settings
from messages.render import render

TODAY = date(2026, 11, 22)


def make_services(engine, **settings):
    return Services(engine=engine, settings=Settings(database_url="sqlite://", **settings),
                    scoring=load_scoring_config(""), today=lambda: TODAY)


def ask(services, text, rep="mgr.sarah", locale=None, platform="console"):
    reply = dispatch(Request(platform, rep, text, locale=locale), services)
    return reply, render(reply.template, reply.context, channel="text", locale=reply.locale)
