"""Young & Tian's (2019) step-size sensitivity of DQN, read off their figure as numbers (CSV on stdout).

    python scripts/digitize_minatar_sensitivity.py sensitivity_curves.gif \
        > docs/results/minatar/published/young-tian-2019-sensitivity.csv

The figure is `img/sensitivity_curves.gif` of kenjyoung/MinAtar (3029 x 1858 pixels: five panels,
"average return over final 100 episodes" of 30 runs against log2 of the step size). It tells which
step size their learning curves (scripts/digitize_minatar_curves.py) were drawn with: docs/minatar.md
reads it for Breakout. Each panel's axes are mapped by two labelled ticks each (pixel positions
found by hand, checked against the image); at each integer log2 step size inside the panel, a
score is the median row of a line's pixels within 2 columns. One pixel is 0.03 points on
Breakout's axis, 0.44 on Space Invaders'.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from digitize_minatar_curves import digitize

IMAGE_SIZE = (3029, 1858)
HALF_WIDTH = 2  # columns either side of a step size
TICK_REACH = range(4, 13)  # pixels out from a spine where its tick marks are drawn


@dataclass(frozen=True)
class Panel:
    """A panel in pixels: its spines, and two ticks per axis as (label, position)."""

    left: float
    right: float
    top: float
    bottom: float
    log2_ticks: tuple[tuple[int, float], tuple[int, float]]  # (log2 step size, column)
    score_ticks: tuple[tuple[float, float], tuple[float, float]]  # (score, row)

    def column(self, log2_step_size: int) -> float:
        (log2_a, column_a), (log2_b, column_b) = self.log2_ticks
        return column_a + (log2_step_size - log2_a) * (column_b - column_a) / (log2_b - log2_a)

    def score(self, row: float) -> float:
        (score_a, row_a), (score_b, row_b) = self.score_ticks
        return score_a + (row - row_a) * (score_b - score_a) / (row_b - row_a)


PANELS = {
    "seaquest": Panel(654, 1354, 216, 680, ((-13, 790.5), (-9, 1348.5)), ((20, 239.0), (0, 661.0))),
    "breakout": Panel(1596, 2296, 237, 701, ((-12, 1793.0), (-8, 2191.5)), ((15, 341.5), (5, 632.5))),
    "asterix": Panel(104, 804, 1003, 1468, ((-13, 217.5), (-8, 799.0)), ((20, 1035.5), (0, 1456.5))),
    "freeway": Panel(1179, 1879, 1003, 1468, ((-12, 1376.5), (-8, 1775.0)), ((50, 1047.5), (0, 1446.5))),
    "space_invaders": Panel(2275, 2975, 1003, 1468, ((-13, 2411.0), (-9, 2969.0)), ((150, 1112.5), (0, 1451.5))),
}


def check_ticks(image_HWC: np.ndarray) -> None:
    """Fails unless every calibration tick is drawn where the panel says: rows left of the left
    spine, columns under the bottom one."""
    dark_HW = image_HWC.sum(axis=2) < 300
    for game, panel in PANELS.items():
        ticks = [
            (f"row {row}", dark_HW[round(row), [round(panel.left) - step for step in TICK_REACH]])
            for _, row in panel.score_ticks
        ]
        ticks += [
            (f"column {column}", dark_HW[[round(panel.bottom) + step for step in TICK_REACH], round(column)])
            for _, column in panel.log2_ticks
        ]
        for where, marks in ticks:
            if not marks.all():
                sys.exit(f"error: no tick at {where} of the {game} panel: is this MinAtar's sensitivity_curves.gif?")


def read_panel(matches_HW: np.ndarray, panel: Panel) -> list[tuple[int, float]]:
    """(log2 step size, score) at each integer step size inside the panel where the line's pixels are."""
    top, bottom, left, right = (
        round(panel.top) + 3,
        round(panel.bottom) - 2,
        round(panel.left) + 3,
        round(panel.right) - 2,
    )
    points = []
    for log2_step_size in range(-20, 0):
        centre = round(panel.column(log2_step_size))
        first, last = max(centre - HALF_WIDTH, left), min(centre + HALF_WIDTH + 1, right)  # inside the spines
        if first >= last:
            continue
        rows, _ = np.nonzero(matches_HW[top:bottom, first:last])  # a row index per matching pixel
        if rows.size:
            points.append((log2_step_size, round(panel.score(top + float(np.median(rows))), 2)))
    return points


def main() -> None:
    digitize(
        description=__doc__.splitlines()[0],
        figure_help="kenjyoung/MinAtar's img/sensitivity_curves.gif",
        image_size=IMAGE_SIZE,
        check=check_ticks,
        panels=PANELS,
        read=read_panel,
        x_name="log2_step_size",
    )


if __name__ == "__main__":
    main()
