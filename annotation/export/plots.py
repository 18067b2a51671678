"""The plots of an export (class distribution, valence/arousal, agreement).

Pure: manifest rows and the agreement figures in, PNG bytes out; no Django.
"""

import io

import numpy as np

from labelstudio_emo.emotions import EMOTIONS

from .card import Agreement, class_split_counts
from .splits import SPLITS


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def render_plots(rows: list[dict], agreement: Agreement) -> dict[str, bytes]:
    """{"plots/class_distribution.png": bytes, ...} drawn with the Agg canvas (no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def figure(**kw):
        fig = Figure(**kw)
        FigureCanvasAgg(fig)
        return fig

    plots = {}
    counts = class_split_counts(rows)
    classes = list(counts)
    fig = figure(figsize=(8, 4))
    ax = fig.add_subplot()
    x = np.arange(len(classes))
    for i, split in enumerate(SPLITS):
        ax.bar(x + (i - 1) * 0.27, [counts[c][split] for c in classes], width=0.27, label=split)
    ax.set_xticks(x, classes)
    ax.set_ylabel("segments")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Segments per class (majority / reviewed label) and split")
    ax.legend()
    plots["plots/class_distribution.png"] = _png(fig)

    fig = figure(figsize=(12, 6))
    for i, name in enumerate(EMOTIONS):
        ax = fig.add_subplot(2, 4, i + 1)
        points = [(r["valence"], r["arousal"]) for r in rows if r["category"] == name and r["valence"] is not None]
        if points:
            v, a = zip(*points)
            ax.scatter(v, a, s=6, alpha=0.4)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="#bbb", lw=0.5)
        ax.axvline(0, color="#bbb", lw=0.5)
        ax.set_title(f"{name} (n={len(points)})", fontsize=9)
        ax.set_xlabel("valence", fontsize=8)
        ax.set_ylabel("arousal", fontsize=8)
    fig.add_subplot(2, 4, 8).axis("off")
    fig.suptitle("Mean human valence / arousal per segment, by category")
    fig.tight_layout()
    plots["plots/valence_arousal.png"] = _png(fig)

    fig = figure(figsize=(10, 4))
    ax = fig.add_subplot(1, 2, 1)
    shares = [r["vote_share"] for r in rows if len(r["labels"]) >= 2 and r["vote_share"] is not None]
    ax.hist(shares, bins=np.linspace(0, 1, 11), color="#3454d1")
    ax.set_xlabel("vote share of the final category")
    ax.set_ylabel("segments (>= 2 raters)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Rater agreement per segment")
    ax = fig.add_subplot(1, 2, 2)
    names = ["category (nominal)", "valence (interval)", "arousal (interval)"]
    values = [agreement.alpha_category, agreement.alpha_valence, agreement.alpha_arousal]
    ax.bar(names, [v if v is not None else 0 for v in values], color="#1e8449")
    for i, v in enumerate(values):
        ax.text(i, max(v or 0, 0) + 0.02, "n/a" if v is None else f"{v:.2f}", ha="center")
    ax.set_ylim(min(0, *(v or 0 for v in values)) - 0.05, 1.05)
    ax.set_title("Krippendorff's alpha")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    plots["plots/agreement.png"] = _png(fig)
    return plots
