"""Helpers for tests of the chat commands (the `services` fixture is in conftest.py)."""
from datetime import date

from bot.commands import Request, Services, dispatch
from bot.scoring_config import load_scoring_config
from bot.settings import Settings
from messages.render import render
from scoring.btyd import BGNBD, GammaGamma

TODAY = date(2026, 11, 22)

# The fixed scored context of the command tests and golden transcripts: the models a fit of
# the demo book gives (to 4 digits), applied instead of fitting, so what a card shows never
# depends on an optimiser's last digit under another numpy or scipy. The fitters themselves
# are checked with tolerances in tests/scoring/test_btyd.py.
FIXED_MODELS = (BGNBD(r=1.369, alpha=5.889, a=0.2649, b=113.2),
                GammaGamma(p=290.1, q=1.007, gamma=7.629))


def make_services(engine, **settings):
    return Services(engine=engine, settings=Settings(database_url="sqlite://", **settings),
                    scoring=load_scoring_config(""), today=lambda: TODAY)


def ask(services, text, rep="mgr.sarah", locale=None, platform="console"):
    reply = dispatch(Request(platform, rep, text, locale=locale), services)
    return reply, render(reply.template, reply.context, channel="text", locale=reply.locale)
