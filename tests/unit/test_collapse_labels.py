"""Collapse labels on the diagnostics figure: close collapses share a label; labels stay inside the axes."""

from __future__ import annotations

import itertools

from matplotlib.figure import Figure

from dqnlab.diagnostics.figure import FIGURE_DPI, FIGURE_SIZE_IN, group_collapses, label_collapses


def test_collapses_closer_than_the_gap_share_one_label() -> None:
    episodes = [100, 103, 106, 200, 290, 299]
    actions = ["rollback", "rollback", "warn", "rollback", "stop", "rollback"]
    # a group runs from its first collapse for less than 5 episodes: 100 and 103 join, 106 starts anew
    assert group_collapses(episodes, actions, 5.0) == [
        (100.0, "2 collapses (rollback)"),
        (106.0, "collapse (warn)"),
        (200.0, "collapse (rollback)"),
        (290.0, "collapse (stop)"),
        (299.0, "collapse (rollback)"),
    ]
    assert group_collapses(episodes, actions, 10.0)[0] == (100.0, "3 collapses (rollback, warn)")
    assert group_collapses([], [], 5.0) == []


def test_labels_sit_inside_the_axes_without_overlapping() -> None:
    figure = Figure(figsize=(FIGURE_SIZE_IN[0], 2.5), dpi=FIGURE_DPI, layout="constrained")
    axis = figure.subplots()
    axis.plot([0, 300], [0, 500])
    episodes = [0.5, 100, 101, 102, 104, 108, 150, 299.5]
    texts = label_collapses(axis, episodes, ["rollback"] * len(episodes))
    figure.canvas.draw()  # runs the layout, as saving does
    renderer = figure._get_renderer()
    inside = axis.get_window_extent(renderer)
    boxes = [text.get_window_extent(renderer) for text in texts]
    assert 3 <= len(boxes) < len(episodes)  # the collapses at 100-108 cannot all have their own label
    for box in boxes:
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, box
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second), (first, second)
