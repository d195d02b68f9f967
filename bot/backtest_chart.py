"""The backtest's calibration chart: predicted vs observed churn by decile of the risk, one
panel per horizon, one line per cut date (matplotlib Agg, object API: no pyplot state)."""
from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LABELS = {"title": "Churn risk calibration ({h} days)", "x": "predicted % with no order",
          "y": "observed % with no order", "ideal": "perfect calibration"}


def calibration_png(results) -> bytes:
    """A PNG of every backtest's calibration table (results of bot.scoring_jobs.backtest)."""
    horizons = sorted({r.horizon_days for r in results})
    fig = Figure(figsize=(4.2 * len(horizons), 4.0), dpi=80)
    FigureCanvasAgg(fig)
    for k, h in enumerate(horizons, 1):
        ax = fig.add_subplot(1, len(horizons), k)
        ax.plot([0, 100], [0, 100], color="#999999", linestyle="--", linewidth=1,
                label=LABELS["ideal"])
        for r in (r for r in results if r.horizon_days == h):
            xs = [c["predicted_pct"] for c in r.calibration]
            ys = [c["observed_pct"] for c in r.calibration]
            ax.plot(xs, ys, marker="o", linewidth=1.5,
                    label=f"{r.as_of} (AUC {r.auc['risk']:.3f})")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_title(LABELS["title"].format(h=h), fontsize=10)
        ax.set_xlabel(LABELS["x"], fontsize=9)
        ax.set_ylabel(LABELS["y"], fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
