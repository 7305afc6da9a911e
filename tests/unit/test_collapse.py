"""Collapse detection on hand-made sequences of evaluation returns."""

from __future__ import annotations

import tomllib

import pytest

from dqnlab.config import Config, DiagnosticsConfig, config_from_dict
from dqnlab.diagnostics.collapse import CollapseDetector, CollapseEvent, append_collapse
from dqnlab.errors import ConfigError


def _fires(detector: CollapseDetector, returns: list[float]) -> list[bool]:
    return [detector.update(value) for value in returns]


def test_a_collapse_after_reaching_the_target_region_fires_once() -> None:
    detector = CollapseDetector(drop=0.5, target=500.0)
    # baseline 10, best 490: gain 480, threshold 490 - 240 = 250; arming level 10 + 0.5 * 490 = 255
    assert _fires(detector, [10, 100, 300, 480, 490, 120]) == [False] * 5 + [True]
    assert detector.threshold() == 250.0
    assert detector.update(100) is False  # still collapsed: reported once
    assert detector.update(400) is False  # recovered, re-armed
    assert detector.update(50) is True  # a second collapse


def test_a_noisy_but_rising_curve_does_not_fire() -> None:
    detector = CollapseDetector(drop=0.5, target=500.0)
    rising = [10, 30, 25, 60, 55, 120, 100, 200, 180, 300, 260, 450, 420, 470, 440]
    assert not any(_fires(detector, rising))


def test_detection_waits_until_the_best_reaches_the_arming_level() -> None:
    detector = CollapseDetector(drop=0.5, target=500.0)
    # best 200 < arming level 10 + 245 = 255: a drop back to 10 is early noise, not a collapse
    assert not any(_fires(detector, [10, 200, 10]))
    assert detector.threshold() is None


def test_an_explicit_minimum_best_arms_detection() -> None:
    detector = CollapseDetector(drop=0.5, min_best=50.0)
    # baseline 0, best 60: threshold 60 - 30 = 30
    assert _fires(detector, [0, 60, 31, 30]) == [False, False, False, True]


def test_without_target_or_minimum_detection_is_off() -> None:
    detector = CollapseDetector(drop=0.5)
    assert not any(_fires(detector, [0, 500, 0]))


def test_negative_returns() -> None:
    # Acrobot-like: start at -500, target -100. Arming level -300; best -100; threshold -100 - 200 = -300.
    detector = CollapseDetector(drop=0.5, target=-100.0)
    assert _fires(detector, [-500, -250, -100, -290, -300]) == [False, False, False, False, True]


def test_drop_sets_how_far_the_return_must_fall() -> None:
    strict = CollapseDetector(drop=0.9, target=100.0)  # baseline 0, best 100: threshold 10
    assert _fires(strict, [0, 100, 20]) == [False, False, False]
    loose = CollapseDetector(drop=0.1, target=100.0)  # threshold 90
    assert _fires(loose, [0, 100, 85]) == [False, False, True]


def test_reset_rearms_after_a_rollback() -> None:
    detector = CollapseDetector(drop=0.5, target=100.0)
    assert _fires(detector, [0, 100, 10]) == [False, False, True]
    detector.reset()
    assert detector.update(10) is True


def test_collapses_csv_gets_a_header_once(tmp_path) -> None:
    append_collapse(tmp_path, CollapseEvent(1000, 12, 20.0, 480.0, "warn"))
    append_collapse(tmp_path, CollapseEvent(3000, 40, 15.5, 480.0, "rollback"))
    lines = (tmp_path / "collapses.csv").read_text().splitlines()
    assert lines == [
        "step,episode,eval_return,best_return,action",
        "1000,12,20,480,warn",
        "3000,40,15.5,480,rollback",
    ]


def test_diagnostics_config_validates_and_round_trips() -> None:
    config = Config(
        diagnostics=DiagnosticsConfig(plot_every=0, collapse_drop=0.9, collapse_min_best=200.0, on_collapse="rollback")
    )
    assert config_from_dict(tomllib.loads(config.to_toml())) == config
    assert config_from_dict(tomllib.loads(Config().to_toml())).diagnostics.collapse_min_best is None
    for bad in ({"plot_every": -1}, {"collapse_drop": 0.0}, {"collapse_drop": 1.5}, {"on_collapse": "panic"}):
        with pytest.raises(ConfigError):
            config_from_dict({"diagnostics": bad})
