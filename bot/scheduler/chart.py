"""The digest's chart: tier distribution this week vs last, and the movements between tiers.

matplotlib's Agg backend through the object API (no pyplot state), so charts can be drawn
from several threads and on a machine without a screen.
"""
from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TIERS = ("strategic", "key", "potential", "general", "at-risk")
LABELS = {"en": {"title": "Accounts by tier", "last": "last week", "now": "this week",
                 "moves": "Movements", "none": "no movements"},
          "zh": {"title": "各分层客户数", "last": "上周", "now": "本周", "moves": "分层变动",
                 "none": "无变动"}}
TIER_LABELS = {"en": {t: t for t in TIERS},
               "zh": {"strategic": "战略", "key": "重点", "potential": "潜力", "general": "一般",
                      "at-risk": "风险"}}
# Fonts with CJK glyphs when the machine has one; Latin text works with any.
CJK_FONTS = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC",
             "SimHei", "DejaVu Sans"]


def _fonts() -> list[str]:
    from matplotlib import font_manager
    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FONTS if f in have] or ["DejaVu Sans"]


FONTS = _fonts()


def distribution(book: dict) -> tuple[dict[str, int], dict[str, int]]:
    """(last week, this week) account counts per tier, from the digest's book."""
    now = {t: 0 for t in TIERS}
    for row in book.get("tiers", []):
        now[row["tier"]] = now.get(row["tier"], 0) + row["accounts"]
    before = dict(now)
    for move in book.get("moves", []):
        before[move["to"]] = before.get(move["to"], 0) - move["accounts"]
        before[move["from"]] = before.get(move["from"], 0) + move["accounts"]
    return before, now


def tier_chart(book: dict, locale: str = "en") -> bytes:
    """A PNG (about 900x380 px). Chinese labels need a CJK font (e.g. Debian's
    fonts-noto-cjk); without one the chart is labelled in English."""
    if locale == "zh" and FONTS == ["DejaVu Sans"]:
        locale = "en"
    label = LABELS.get(locale, LABELS["en"])
    names = TIER_LABELS.get(locale, TIER_LABELS["en"])
    before, now = distribution(book)
    fig = Figure(figsize=(9, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    xs = range(len(TIERS))
    left.bar([x - 0.2 for x in xs], [before.get(t, 0) for t in TIERS], 0.4,
             label=label["last"], color="#a8dadc")
    left.bar([x + 0.2 for x in xs], [now.get(t, 0) for t in TIERS], 0.4,
             label=label["now"], color="#1d3557")
    left.set_xticks(list(xs), [names[t] for t in TIERS], fontsize=8)
    left.set_title(label["title"])
    left.legend(frameon=False)
    moves = sorted(book.get("moves", []), key=lambda m: -m["accounts"])[:8]
    if moves:
        right.barh([f"{names.get(m['from'], m['from'])} → {names.get(m['to'], m['to'])}"
                    for m in reversed(moves)], [m["accounts"] for m in reversed(moves)],
                   color=["#e63946" if TIERS.index(m["to"]) > TIERS.index(m["from"])
                          else "#2a9d8f" for m in reversed(moves)])
    else:
        right.text(0.5, 0.5, label["none"], ha="center", va="center")
        right.set_yticks([])
    right.set_title(label["moves"])
    for ax in (left, right):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for text in ax.get_xticklabels() + ax.get_yticklabels() + [ax.title]:
            text.set_fontfamily(FONTS)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.1, top=0.9, wspace=0.45)
    out = io.BytesIO()
    fig.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    return out.getvalue()
