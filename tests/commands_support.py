"""Helpers for tests of the chat commands (the `services` fixture is in conftest.py)."""
from datetime import date

from bot.commands import Request, Services, dispatch
from bot.scoring_config import load_scoring_config
from bot.settings import Settings
from messages.render import render
from scoring.btyd import BGNBD, GammaGamma
from scoring.engine import Models
from scoring.risk import RiskModel

TODAY = date(2026, 11, 22)

# The fixed scored context of the command tests and golden transcripts: the models a fit of
# the demo book gives (to 4 digits), applied instead of fitting, so what a card shows never
# depends on an optimiser's last digit under another numpy or scipy. BG/NBD and Gamma-Gamma
# are this 80-account book's fits; the risk model is the one the 300-account demo book
# (`make demo`) learns from its own history (an 80-account book is too small to learn
# from, and the cards should show the learned model). The fitters themselves are checked
# with tolerances in tests/scoring/.
FIXED_MODELS = Models(
    bg=BGNBD(r=1.369, alpha=5.889, a=0.2649, b=113.2),
    gg=GammaGamma(p=290.1, q=1.007, gamma=7.629),
    risk=RiskModel(
        "learned", "learned", 90,
        mean=(3.1579, 2.7477, 9.8644, 6.5748, -0.7293, 0.0262, 0.3378, -0.2343, -0.0064,
              0.0234, 0.0, 0.6465),
        scale=(1.2537, 0.8965, 1.5162, 0.4389, 1.0378, 0.1254, 1.0658, 3.9553, 0.4809, 0.1511,
               1.0, 0.8049),
        coef=(0.2092, -0.0995, -0.095, 0.4332, 0.0, 0.5845, 0.2815, 0.0, -0.0335, 0.1973, 0.0,
              -0.3383),
        intercept=-1.4337,
        facts={"cuts": ["2026-08-24", "2026-07-10", "2026-05-26", "2026-04-11"],
               "accounts": 278, "churners": 83, "stayers": 195, "auc_learned": 0.891,
               "auc_fallback": 0.7896}))


def make_services(engine, **settings):
    return Services(engine=engine, settings=Settings(database_url="sqlite://", **settings),
                    scoring=load_scoring_config(""), today=lambda: TODAY)


def ask(services, text, rep="mgr.sarah", locale=None, platform="console"):
    reply = dispatch(Request(platform, rep, text, locale=locale), services)
    return reply, render(reply.template, reply.context, channel="text", locale=reply.locale)
