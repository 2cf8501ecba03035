"""The report's picture: sends, 429 answers and FAILED rows per simulated minute, and the
cumulative delivered curve — an SVG, byte-identical for the same report.

matplotlib writes a random id salt and a creation date into SVGs by default; both are
pinned (``svg.hashsalt``, ``metadata={"Date": None}``) so reruns compare equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plot"]


def write_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Write the picture of ``report`` (from :func:`build_report`) to ``path`` (.svg or .png)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    timeline = report["timeline"]
    minutes = list(range(timeline["minutes"]))
    with matplotlib.rc_context({"svg.hashsalt": "broadcaster-simulator", "svg.fonttype": "none", "font.size": 9}):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, height_ratios=(3, 2))
        try:
            head = report["scenario"]
            fig.suptitle(f"{head['name']} — {head['audience_size']:,} contacts, seed {head['seed']}")
            top.bar(minutes, timeline["sends"], width=1.0, align="edge", color="#9ecae1", label="sends")
            top.bar(minutes, timeline["rate_limited"], width=1.0, align="edge", color="#fd8d3c", label="429 answers")
            top.bar(minutes, timeline["failed"], width=1.0, align="edge", color="#d62728", label="FAILED rows")
            top.set_ylabel("per simulated minute")
            top.legend(loc="upper right")
            top.grid(axis="y", alpha=0.3)
            curve_x = [m + 1 for m in minutes]
            bottom.step([0, *curve_x], [0, *timeline["cumulative_delivered"]], where="post", color="#2ca02c")
            bottom.set_ylabel("delivered (cumulative)")
            bottom.set_xlabel("simulated minutes since start")
            bottom.grid(alpha=0.3)
            for start in timeline["retry_starts_min"]:
                for axis in (top, bottom):
                    axis.axvline(start, color="#555555", linestyle="--", linewidth=0.8)
                bottom.annotate("retry", (start, 0), xytext=(3, 3), textcoords="offset points", fontsize=8)
            bottom.set_xlim(0, max(1, timeline["minutes"]))
            fig.tight_layout()
            metadata = {"Date": None} if path.suffix.lower() == ".svg" else {"Software": None}
            fig.savefig(path, metadata=metadata)
        finally:
            plt.close(fig)
    return path
