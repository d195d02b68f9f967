"""The digest's chart: tier distribution this week vs last, and the movements between tiers.

matplotlib's Agg backend through the object API (no pyplot state), so charts can be drawn
from several threads and on a machine without a screen.
"""
from __future__ import annotations

import io
import threading

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
# Fonts with CJK glyphs, preferred in this order; Latin text works with any.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "SimHei",
             "Droid Sans Fallback", "AR PL UMing CN"]
LATIN = "DejaVu Sans"
SAMPLE = "中文"


def find_cjk_fonts(manager=None, extra_dirs: list[str] | None = None,
                   sample: str = SAMPLE) -> list[str]:
    """Font families that can draw `sample` (Chinese), best first; empty if none.

    matplotlib lists fonts from a cache built the first time it ran, so a font installed
    later (apt install fonts-noto-cjk) is invisible to it until the cache is deleted. When
    no family known to it fits, the font files on disk that the cache doesn't know are
    added to the font manager (in memory; the cache file is left alone) and looked at."""
    from matplotlib import font_manager

    manager = manager or font_manager.fontManager
    found = [n for n in CJK_FONTS if n in {f.name for f in manager.ttflist}]
    if found:
        return found
    known = {f.fname for f in manager.ttflist}
    paths = set(font_manager.findSystemFonts())
    for folder in extra_dirs or ():
        paths.update(font_manager.findSystemFonts(fontpaths=[folder]))
    added: list[str] = []
    for path in sorted(paths - known):
        try:
            manager.addfont(path)
        except Exception:  # not a font matplotlib can read: skip it
            continue
        added.append(path)
    names = {f.fname: f.name for f in manager.ttflist}
    found = [n for n in CJK_FONTS if n in names.values()]
    found += [names[p] for p in added if p in names and names[p] not in found
              and _draws(p, sample)]
    return found


def _draws(path: str, sample: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except Exception:
        return False
    return all(font.get_char_index(ord(ch)) for ch in sample)


def _fonts() -> list[str]:
    return [*find_cjk_fonts(), LATIN]


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


class _Painter:
    """One figure per thread and language, redrawn with new numbers: building the axes,
    bars and tick machinery is most of a chart's cost, and it is the same every time."""

    def __init__(self, locale: str):
        from matplotlib.ticker import MaxNLocator

        self.label = LABELS[locale]
        self.names = TIER_LABELS[locale]
        fig = Figure(figsize=(9, 3.8), dpi=72)
        FigureCanvasAgg(fig)
        self.fig = fig
        left = self.left = fig.add_axes((0.05, 0.1, 0.5, 0.75))
        right = self.right = fig.add_axes((0.72, 0.1, 0.26, 0.75))
        xs = range(len(TIERS))
        self.last = left.bar([x - 0.2 for x in xs], [0] * len(TIERS), 0.4, color="#a8dadc")
        self.now = left.bar([x + 0.2 for x in xs], [0] * len(TIERS), 0.4, color="#1d3557")
        left.set_xticks(list(xs), [self.names[t] for t in TIERS], fontfamily=FONTS)
        left.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        self.moves = right.barh(range(MAX_MOVES), [0] * MAX_MOVES)
        right.set_ylim(-0.6, MAX_MOVES - 0.4)
        right.xaxis.set_visible(False)
        for ax in (left, right):
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        fig.text(0.05, 0.92, f"{self.label['title']}  ({self.label['last']} / {self.label['now']})",
                 fontsize=12, fontfamily=FONTS)
        fig.text(0.60, 0.92, self.label["moves"], fontsize=12, fontfamily=FONTS)
        self.none = fig.text(0.85, 0.45, self.label["none"], ha="center", fontfamily=FONTS)

    def draw(self, before: dict, now: dict, moves: list[dict]) -> bytes:
        for bar, t in zip(self.last, TIERS):
            bar.set_height(before.get(t, 0))
        for bar, t in zip(self.now, TIERS):
            bar.set_height(now.get(t, 0))
        top = max([*before.values(), *now.values(), 1])
        self.left.set_ylim(0, top * 1.08)
        shown = list(reversed(moves))  # the biggest on top
        labels = [""] * MAX_MOVES
        for i, bar in enumerate(self.moves):
            if i < len(shown):
                m = shown[i]
                bar.set_width(m["accounts"])
                bar.set_color("#e63946" if TIERS.index(m["to"]) > TIERS.index(m["from"])
                              else "#2a9d8f")
                labels[i] = (f"{self.names.get(m['from'], m['from'])} → "
                             f"{self.names.get(m['to'], m['to'])}  {m['accounts']}")
            else:
                bar.set_width(0)
        self.right.set_xlim(0, max([m["accounts"] for m in moves] + [1]) * 1.05)
        self.right.set_yticks(range(MAX_MOVES), labels, fontfamily=FONTS)
        self.right.tick_params(axis="y", length=0)
        self.none.set_visible(not moves)
        out = io.BytesIO()
        self.fig.savefig(out, format="png", pil_kwargs={"compress_level": 1})
        return out.getvalue()


MAX_MOVES = 6
_painters = threading.local()


def tier_chart(book: dict, locale: str = "en") -> bytes:
    """A PNG (about 650x270 px): tier counts last week vs this week, and the biggest
    movements. Chinese labels need a CJK font (e.g. Debian's fonts-noto-cjk); without one
    the chart is labelled in English."""
    if locale not in LABELS or (locale == "zh" and FONTS == [LATIN]):
        locale = "en"
    painters = getattr(_painters, "by_locale", None)
    if painters is None:
        painters = _painters.by_locale = {}
    if locale not in painters:
        painters[locale] = _Painter(locale)
    before, now = distribution(book)
    moves = sorted(book.get("moves", []), key=lambda m: -m["accounts"])[:MAX_MOVES]
    return painters[locale].draw(before, now, moves)
