"""Young & Tian's (2019) DQN learning curves, read off their figure as numbers (CSV on stdout).

    python scripts/digitize_minatar_curves.py learning_curves.gif > docs/results/minatar/published/young-tian-2019.csv

The figure is `img/learning_curves.gif` of kenjyoung/MinAtar (3038 x 1629 pixels: five panels,
mean of 30 runs, "moving average of returns over 100 episodes" against frames). The papers give
their results only as this figure, so comparing a run that has not reached 5M frames needs the
curve's value at the run's own frame count. For each panel the script maps pixels to values by the
axis ticks (their pixel rows and columns, found by hand and checked below against the image), takes
the pixels of a curve's colour within 2 columns of each frame count, and writes their median row as
a score. Reading precision is about one pixel: 0.45 points on Space Invaders' axis, 0.04 on
Breakout's.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

IMAGE_SIZE = (3038, 1629)
COLOURS = {"dqn": (1, 115, 178), "dqn-no-replay": (222, 143, 5)}  # the curves' line colours
COLOUR_TOLERANCE = 30  # summed absolute RGB difference; the nearest other curve is 63 away
FRAMES = [100_000 * k for k in range(1, 51)]
HALF_WIDTH = 2  # columns either side of a frame count
P = TypeVar("P")  # a figure's panel calibration


@dataclass(frozen=True)
class Panel:
    """A panel's axes in pixels: x of 0 and 5M frames, y of score 0 and of its top tick."""

    x_zero: float
    x_five_million: float
    y_zero: float
    y_top: float
    top: float

    def column(self, frames: int) -> int:
        return round(self.x_zero + frames / 5e6 * (self.x_five_million - self.x_zero))

    def score(self, row: float) -> float:
        return (self.y_zero - row) / (self.y_zero - self.y_top) * self.top


PANELS = {
    "asterix": Panel(106.0, 804.0, 1407.0, 1000.5, 20),
    "breakout": Panel(1569.0, 2266.0, 637.0, 286.5, 15),
    "freeway": Panel(1202.0, 1899.5, 1398.0, 987.0, 50),
    "seaquest": Panel(614.5, 1312.0, 624.0, 228.0, 20),
    "space_invaders": Panel(2295.0, 2992.5, 1400.0, 957.0, 200),
}


def check_ticks(image_HWC: np.ndarray) -> None:
    """Fails unless each panel's y ticks 0 and top are dark where the calibration puts them."""
    dark_HW = image_HWC.sum(axis=2) < 300
    for game, panel in PANELS.items():
        tick_column = round(panel.x_zero) - 10
        for row in (panel.y_zero, panel.y_top):
            if not dark_HW[round(row) - 1 : round(row) + 2, tick_column].any():
                sys.exit(f"error: no tick at row {row} of the {game} panel: is this MinAtar's learning_curves.gif?")


def read_curve(matches_HW: np.ndarray, panel: Panel) -> list[tuple[int, float]]:
    """(frames, score) at each frame count where the curve's pixels (`matches_HW`) are found."""
    points = []
    for frames in FRAMES:
        centre = panel.column(frames)
        columns = range(centre - HALF_WIDTH, min(centre + HALF_WIDTH, round(panel.x_five_million) - 1) + 1)
        rows = np.concatenate([np.flatnonzero(matches_HW[:, column]) for column in columns])  # short of the spine
        rows = rows[(rows > panel.y_top - 40) & (rows < panel.y_zero + 10)]  # this panel's rows only
        if rows.size:
            points.append((frames, round(panel.score(float(np.median(rows))), 2)))
    return points


def load_figure(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The image at `path` as integer RGB (H, W, 3); one line and exit 1 unless it reads and is `size`."""
    from PIL import Image

    try:
        image = Image.open(path).convert("RGB")
    except OSError as error:
        sys.exit(f"error: cannot read {path}: {error}")
    if image.size != size:
        width, height = image.size
        sys.exit(f"error: {path} is {width} x {height} pixels, not MinAtar's figure {size}")
    return np.asarray(image).astype(int)


def colour_matches(image_HWC: np.ndarray) -> dict[str, np.ndarray]:
    """Per agent, where the image has that agent's line colour."""
    return {
        agent: np.abs(image_HWC - np.array(colour)).sum(axis=2) < COLOUR_TOLERANCE for agent, colour in COLOURS.items()
    }


def digitize(
    description: str,
    figure_help: str,
    image_size: tuple[int, int],
    check: Callable[[np.ndarray], None],
    panels: dict[str, P],
    read: Callable[[np.ndarray, P], list],
    x_name: str,
) -> None:
    """A digitizing script's command line: read the figure named on it, `check` its calibration, and
    write CSV on stdout: game, agent, `x_name`, score for every point `read` finds of each agent's line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("figure", type=Path, help=figure_help)
    args = parser.parse_args()
    image_HWC = load_figure(args.figure, image_size)
    check(image_HWC)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["game", "agent", x_name, "score"])
    matches = colour_matches(image_HWC)
    for game, panel in panels.items():
        for agent, matches_HW in matches.items():
            for x, score in read(matches_HW, panel):
                writer.writerow([game, agent, x, score])


def main() -> None:
    digitize(
        description=__doc__.splitlines()[0],
        figure_help="kenjyoung/MinAtar's img/learning_curves.gif",
        image_size=IMAGE_SIZE,
        check=check_ticks,
        panels=PANELS,
        read=read_curve,
        x_name="frames",
    )


if __name__ == "__main__":
    main()
