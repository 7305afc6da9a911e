"""Comparison reports over runs grouped into variants: curves, score tables, report.md and report.html.

    report = build_report({"double=false": [dir1, dir2], "double=true": [dir3, dir4]}, "out/")

Each variant's runs are its seeds. Learning curves are put on one env-step grid by linear
interpolation of each run's evaluation returns (eval.csv), or of its training-episode returns
when a run has no evaluations; a run that ended early holds its last value. Scores per run:
the final return (last evaluation) and the normalized area under the curve (the curve's mean
height over the grid, in return units); and whether a run that reached the threshold stayed there
(`dqnlab.diagnostics.stability`): the hold rate, the last-10 mean and the collapses. Per variant
they are summarized as mean and IQM with 95% stratified-bootstrap intervals
(`dqnlab.diagnostics.statistics`), and the variants are ranked on the stability measures.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlab.diagnostics import stability, statistics
from dqnlab.diagnostics.figure import parse_float, read_csv_rows, read_run_config, run_target_return
from dqnlab.errors import DqnlabError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GRID_POINTS = 101  # points of the common env-step axis
EPISODE_WINDOW = 10  # training-return source: final return = mean of the last this many episodes
# Keys that differ between runs without defining a variant.
NON_VARIANT_KEYS = {"seed", "device", "torch_threads", "tensorboard", "diagnostics.plot_every"}


@dataclass
class RunResult:
    """One run's curve (env steps, returns) and its identity."""

    run_dir: Path
    config: dict[str, Any]
    seed: int
    steps: np.ndarray  # env steps of the curve's points
    returns: np.ndarray  # evaluation (or training-episode) returns at those steps
    source: str  # "eval" or "train"
    target_return: float | None
    collapses: int


def load_run(run_dir: str | Path) -> RunResult:
    """Reads one run directory's config and learning curve, or says in one line why it cannot."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DqnlabError(f"no such run directory: {run_dir}")
    config = read_run_config(run_dir)
    if not config:
        raise DqnlabError(f"{run_dir} is not a run directory (no readable config.toml)")
    evals = read_csv_rows(run_dir / "eval.csv")
    if evals:
        steps = np.array([int(row["step"]) for row in evals])
        returns = np.array([parse_float(row["mean_return"]) for row in evals])
        source = "eval"
    else:
        episodes = read_csv_rows(run_dir / "metrics.csv")
        if not episodes:
            raise DqnlabError(f"{run_dir} has neither evaluations nor finished episodes to compare")
        steps = np.array([int(row["step"]) for row in episodes])
        returns = np.array([parse_float(row["return"]) for row in episodes])
        source = "train"
    return RunResult(
        run_dir=run_dir,
        config=config,
        seed=int(config.get("seed", 0)),
        steps=steps,
        returns=returns,
        source=source,
        target_return=run_target_return(run_dir, config),
        collapses=len(read_csv_rows(run_dir / "collapses.csv")),
    )


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"learning": {"double": True}} -> {"learning.double": True}."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def group_by_config(run_dirs: Sequence[str | Path]) -> dict[str, list[RunResult]]:
    """Groups runs into variants by the config values that differ between them (seed aside).

    A variant's label names only as many of those values as it takes to tell the variants apart
    (`variant_labels`), e.g. "double=false"; when the runs differ only in their seeds there is one
    variant, named after their preset.
    """
    runs = [load_run(path) for path in run_dirs]
    if not runs:
        raise DqnlabError("no runs to compare")
    envs = sorted({str(run.config.get("env_id")) for run in runs})
    if len(envs) > 1:
        raise DqnlabError(f"runs are on different envs ({', '.join(envs)}); compare runs of one env at a time")
    labels = variant_labels([flatten(run.config) for run in runs])
    groups: dict[str, list[RunResult]] = {}
    for run, label in zip(runs, labels, strict=True):
        groups.setdefault(label, []).append(run)
    return {label: sorted(groups[label], key=lambda run: run.seed) for label in sorted(groups)}


def _differing_keys(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = sorted({key for flat in flats for key in flat} - NON_VARIANT_KEYS)
    return [key for key in keys if len({_format_value(flat.get(key)) for flat in flats}) > 1]


def variant_labels(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    """A short label per flattened config: the fewest differing keys that still separate every variant.

    Keys are taken greedily, the preset first (one name for many differences), then in key order,
    each only if it splits the variants further; a key is shown by its last part ("double=false")
    unless two shown keys share it. Runs with no difference but their seed get their preset's name.
    """
    differing = _differing_keys(flats)

    def partition(keys: Sequence[str]) -> int:
        return len({tuple(_format_value(flat.get(key)) for key in keys) for flat in flats})

    chosen: list[str] = []
    for key in sorted(differing, key=lambda key: (key != "preset", key)):
        if partition(chosen) == partition(differing):
            break
        if partition([*chosen, key]) > partition(chosen):
            chosen.append(key)
    tails = [key.rpartition(".")[2] for key in chosen]
    names = [tail if tails.count(tail) == 1 else key for key, tail in zip(chosen, tails, strict=True)]
    labels = []
    for flat in flats:
        parts = [
            _format_value(flat.get(key)) if key == "preset" else f"{name}={_format_value(flat.get(key))}"
            for key, name in zip(chosen, names, strict=True)
        ]
        labels.append(" ".join(parts) or str(flat.get("preset", "runs")))
    return labels


def describe_variants(groups: Mapping[str, Sequence[RunResult]]) -> dict[str, str]:
    """Every config value that differs between the variants, per label, for the report's context lines."""
    flats = {label: flatten(runs[0].config) for label, runs in groups.items() if runs}
    differing = _differing_keys(list(flats.values()))
    return {
        label: " ".join(f"{key}={_format_value(flat.get(key))}" for key in differing) for label, flat in flats.items()
    }


def keep_one_per_seed(groups: Mapping[str, Sequence[RunResult]]) -> tuple[dict[str, list[RunResult]], list[str]]:
    """Each variant's runs with one run per seed (the first given): two runs of one seed and config
    are one sample, not two. Returns (groups, a warning per run left out)."""
    kept: dict[str, list[RunResult]] = {}
    notes = []
    for label, runs in groups.items():
        by_seed: dict[int, RunResult] = {}
        for run in runs:
            first = by_seed.setdefault(run.seed, run)
            if first is not run:
                notes.append(
                    f"{run.run_dir} repeats seed {run.seed} of variant '{label}' ({first.run_dir}); counted once"
                )
        kept[label] = list(by_seed.values())
    return kept, notes


@dataclass
class VariantScores:
    label: str
    runs: list[RunResult]
    curves_RN: np.ndarray  # each run's curve on the common grid
    final_R: np.ndarray  # final return per run
    auc_R: np.ndarray  # normalized area under the curve per run
    steps_to_threshold: list[int | None]  # per run, None = never reached
    final: dict[str, tuple[float, float, float]]  # mean / iqm -> (estimate, ci low, ci high)
    auc: dict[str, tuple[float, float, float]]
    hold_R: np.ndarray  # hold rate per run; nan where it is undefined (never solved, or only at the end)
    last10_R: np.ndarray  # mean of the last 10 points of each run's own curve
    held_at_end: int | None  # runs whose last-10 mean is at or above the threshold; None without one
    collapses_R: np.ndarray  # collapses detected per run
    hold: dict[str, tuple[float, float, float]] | None  # over the runs with a hold rate; None when none has
    last10: dict[str, tuple[float, float, float]]
    collapses: dict[str, tuple[float, float, float]]


def _final_return(run: RunResult) -> float:
    if run.source == "eval":
        return float(run.returns[-1])
    return float(np.mean(run.returns[-EPISODE_WINDOW:]))


def step_grid(runs: Sequence[RunResult], points: int = GRID_POINTS) -> np.ndarray:
    """The common env-step axis: from the latest first point of any run to the last point of any run."""
    start = max(float(run.steps[0]) for run in runs)
    end = max(float(run.steps[-1]) for run in runs)
    return np.array([start]) if end <= start else np.linspace(start, end, points)


def score_variants(
    groups: Mapping[str, Sequence[RunResult]], threshold: float | None, reps: int = statistics.DEFAULT_REPS
) -> tuple[np.ndarray, list[VariantScores]]:
    """Puts every run on one step grid and scores each variant; returns (grid, scores)."""
    all_runs = [run for runs in groups.values() for run in runs]
    if not all_runs:
        raise DqnlabError("no runs to compare")
    grid = step_grid(all_runs)
    scored = []
    for label, runs in groups.items():
        curves_RN = np.stack([statistics.interpolate_curve(run.steps, run.returns, grid) for run in runs])
        final_R = np.array([_final_return(run) for run in runs])
        auc_R = np.array([statistics.normalized_auc(grid, curve) for curve in curves_RN])
        reached = [
            None if threshold is None else statistics.steps_to_threshold(run.steps, run.returns, threshold)
            for run in runs
        ]
        holds = [stability.hold_rate(run.returns, threshold) for run in runs]
        hold_R = np.array([np.nan if hold is None else hold for hold in holds])
        last10_R = np.array([stability.last_mean(run.returns) for run in runs], dtype=float)
        collapses_R = np.array([run.collapses for run in runs], dtype=float)
        scored.append(
            VariantScores(
                label,
                list(runs),
                curves_RN,
                final_R,
                auc_R,
                reached,
                statistics.summarize(final_R, reps=reps),
                statistics.summarize(auc_R, reps=reps),
                hold_R,
                last10_R,
                None if threshold is None else int((last10_R >= threshold).sum()),
                collapses_R,
                statistics.summarize(hold_R[np.isfinite(hold_R)], reps=reps) if np.isfinite(hold_R).any() else None,
                statistics.summarize(last10_R, reps=reps),
                statistics.summarize(collapses_R, reps=reps),
            )
        )
    return grid, scored


def stability_ranking(scored: Sequence[VariantScores]) -> list[VariantScores]:
    """The variants best first: by the IQM of the last-10 mean (good at the end of training), then by the
    mean hold rate (stayed good once good), then by the IQM of the AUC (got good early)."""

    def key(variant: VariantScores) -> tuple[float, float, float]:
        hold = -1.0 if variant.hold is None else variant.hold["mean"][0]
        return (variant.last10["iqm"][0], hold, variant.auc["iqm"][0])

    return sorted(scored, key=key, reverse=True)


# ---------------------------------------------------------------- figures


LABEL_WIDTH = 28  # characters per line of a variant's label in the figures; longer labels wrap


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, LABEL_WIDTH, break_long_words=False)) or label


def _curves_figure(
    grid: np.ndarray, scored: Sequence[VariantScores], path: Path, title: str, source: str, threshold: float | None
) -> Figure:
    """Mean curve per variant with its bootstrap band; the legend sits below the axes, never on the curves."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5 + 0.25 * len(scored)), dpi=100, layout="constrained")
    axis = figure.subplots()
    for index, variant in enumerate(scored):
        color = f"C{index % 10}"
        mean_N, low_N, high_N = statistics.bootstrap_mean_band(variant.curves_RN)
        axis.plot(grid, mean_N, color=color, lw=2, label=f"{_wrap(variant.label)} (n={len(variant.runs)})")
        axis.fill_between(grid, low_N, high_N, color=color, alpha=0.2, lw=0)
    if threshold is not None:
        axis.axhline(threshold, color="gray", ls="--", lw=1, label=f"threshold ({threshold:g})")
    kind = "evaluation return (greedy)" if source == "eval" else "training-episode return"
    axis.set_xlabel("env steps")
    axis.set_ylabel(f"{kind}")
    axis.set_title(f"{title}\nmean over seeds, shaded: 95% bootstrap CI of the mean", fontsize=11)
    axis.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=min(len(scored) + (threshold is not None), 3), fontsize=8)
    figure.savefig(path, format="png")
    return figure


def _scores_figure(scored: Sequence[VariantScores], path: Path) -> Figure:
    """Per variant and score: the seeds as dots, mean and IQM as points with 95% CI bars."""
    from matplotlib.figure import Figure

    lines = sum(_wrap(variant.label).count("\n") + 1 for variant in scored)
    figure = Figure(figsize=(10, 0.35 * lines + 0.3 * len(scored) + 2.4), dpi=100, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(scored))
    for axis, attribute, title in ((axes[0], "final", "final return"), (axes[1], "auc", "area under the curve")):
        for y, variant in zip(positions, scored, strict=True):
            values = variant.final_R if attribute == "final" else variant.auc_R
            axis.scatter(
                values,
                np.full(values.shape, y + 0.25),
                s=12,
                color="gray",
                alpha=0.6,
                label="seeds" if y == 0 else None,
            )
            for offset, name, color in ((0.0, "iqm", "tab:blue"), (-0.2, "mean", "tab:orange")):
                estimate, low, high = getattr(variant, attribute)[name]
                axis.errorbar(
                    estimate,
                    y + offset,
                    xerr=[[estimate - low], [high - estimate]],
                    fmt="o",
                    color=color,
                    capsize=3,
                    label={"iqm": "IQM", "mean": "mean"}[name] if y == 0 else None,
                )
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("return" if attribute == "final" else "mean return over the step axis")
        axis.margins(x=0.08, y=0.5 / max(len(scored), 1))
        axis.grid(alpha=0.3)
    axes[0].set_yticks(positions, [_wrap(variant.label) for variant in scored], fontsize=8)
    axes[0].invert_yaxis()
    figure.suptitle("scores per variant, 95% stratified-bootstrap CI", fontsize=10)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    figure.savefig(path, format="png")
    return figure


# ---------------------------------------------------------------- tables and documents


def _ci(triple: tuple[float, float, float], spec: str = ".1f") -> str:
    estimate, low, high = triple
    return f"{estimate:{spec}} [{low:{spec}}, {high:{spec}}]"


def _median_steps(reached: Sequence[int | None]) -> str:
    solved = [step for step in reached if step is not None]
    return f"{int(np.median(solved)):,}" if solved else "-"


def _stability_table_rows(scored: Sequence[VariantScores]) -> list[list[str]]:
    """One row per variant in `stability_ranking` order. "last-10 CI vs the top" compares each variant's
    last-10 IQM interval with the top variant's (only from `MIN_SEEDS_FOR_INTERVALS` seeds)."""
    ranked = stability_ranking(scored)
    top = ranked[0]
    enough = min(len(variant.runs) for variant in scored) >= statistics.MIN_SEEDS_FOR_INTERVALS
    rows = []
    for rank, variant in enumerate(ranked, start=1):
        if variant is top:
            versus = "top"
        elif not enough:
            versus = "too few seeds"
        else:
            (_, _, variant_high), (_, top_low, _) = variant.last10["iqm"], top.last10["iqm"]
            versus = "below" if variant_high < top_low else "overlaps"
        holding = np.isfinite(variant.hold_R).sum()
        hold = "-" if variant.hold is None else f"{_ci(variant.hold['mean'], '.2f')} ({holding})"
        rows.append(
            [
                str(rank),
                variant.label,
                str(len(variant.runs)),
                f"{sum(step is not None for step in variant.steps_to_threshold)}/{len(variant.runs)}",
                "-" if variant.held_at_end is None else f"{variant.held_at_end}/{len(variant.runs)}",
                _ci(variant.last10["iqm"]),
                versus,
                hold,
                _ci(variant.collapses["mean"], ".2f"),
                _ci(variant.auc["iqm"]),
                _median_steps(variant.steps_to_threshold),
            ]
        )
    return rows


STABILITY_HEADER = [
    "rank",
    "variant",
    "seeds",
    "solved",
    "last-10 mean at or above the threshold",
    "last-10 mean: IQM [95% CI]",
    "last-10 CI vs the top",
    "hold rate: mean [95% CI] (seeds)",
    "collapses: mean [95% CI]",
    "AUC: IQM [95% CI]",
    "median steps to first solve",
]


def _score_table_rows(scored: Sequence[VariantScores]) -> list[list[str]]:
    rows = []
    for variant in scored:
        reached = [s for s in variant.steps_to_threshold if s is not None]
        rows.append(
            [
                variant.label,
                str(len(variant.runs)),
                _ci(variant.final["mean"]),
                _ci(variant.final["iqm"]),
                _ci(variant.auc["mean"]),
                _ci(variant.auc["iqm"]),
                f"{len(reached)}/{len(variant.runs)}",
                _median_steps(variant.steps_to_threshold),
            ]
        )
    return rows


SCORE_HEADER = [
    "variant",
    "seeds",
    "final return: mean [95% CI]",
    "final return: IQM [95% CI]",
    "AUC: mean [95% CI]",
    "AUC: IQM [95% CI]",
    "reached threshold",
    "median steps to threshold",
]
RUN_HEADER = [
    "variant",
    "seed",
    "final return",
    "AUC",
    "steps to threshold",
    "hold rate",
    "last-10 mean",
    "collapses",
    "run directory",
]


def _run_table_rows(scored: Sequence[VariantScores]) -> list[list[str]]:
    rows = []
    for variant in scored:
        for run, final, auc, reached, hold, last10 in zip(
            variant.runs,
            variant.final_R,
            variant.auc_R,
            variant.steps_to_threshold,
            variant.hold_R,
            variant.last10_R,
            strict=True,
        ):
            rows.append(
                [
                    variant.label,
                    str(run.seed),
                    f"{final:.1f}",
                    f"{auc:.1f}",
                    "never" if reached is None else f"{reached:,}",
                    "-" if np.isnan(hold) else f"{hold:.2f}",
                    f"{last10:.1f}",
                    str(run.collapses),
                    str(run.run_dir),
                ]
            )
    return rows


def _overlap_notes(scored: Sequence[VariantScores]) -> list[str]:
    """Plain-language reading of the IQM intervals of the final return and the AUC, pair by pair.

    Below `statistics.MIN_SEEDS_FOR_INTERVALS` seeds a percentile-bootstrap interval is little more
    than the seeds' min and max, so no difference is called from it."""
    fewest = min(len(variant.runs) for variant in scored)
    few_seeds = (
        f"With {fewest} seed{'s' if fewest != 1 else ''} in a variant, the 95% intervals are close to the min and "
        f"max of the seeds"
    )
    if len(scored) == 1:
        variant = scored[0]
        final, auc = variant.final["iqm"], variant.auc["iqm"]
        caveat = f" {few_seeds}." if fewest < statistics.MIN_SEEDS_FOR_INTERVALS else ""
        return [
            f"One variant, {len(variant.runs)} seeds: final return IQM {_ci(final)}, AUC IQM {_ci(auc)}.{caveat} "
            f"There is nothing to compare it with; add variants (runs that differ in a config value) to compare."
        ]
    if fewest < statistics.MIN_SEEDS_FOR_INTERVALS:
        return [
            f"{few_seeds} and cannot support a conclusion about which variant is better; run at least "
            f"{statistics.MIN_SEEDS_FOR_INTERVALS} seeds per variant (10 or more to call a difference)."
        ]
    notes = []
    for score, name in (("final", "final return"), ("auc", "AUC")):
        for i, first in enumerate(scored):
            for second in scored[i + 1 :]:
                a, b = getattr(first, score)["iqm"], getattr(second, score)["iqm"]
                if a[1] > b[2] or b[1] > a[2]:
                    better, worse = (first, second) if a[0] > b[0] else (second, first)
                    notes.append(
                        f"{name}: **{better.label}** is higher than **{worse.label}** "
                        f"(the 95% CIs of the IQM do not overlap)."
                    )
                else:
                    notes.append(
                        f"{name}: {first.label} vs {second.label}: the 95% CIs of the IQM overlap; "
                        f"these seeds do not separate them."
                    )
    return notes


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _markdown_inline(text: str) -> str:
    """The little markdown the notes use (**bold**), as HTML."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{part}</b>" if index % 2 else part for index, part in enumerate(parts))


def build_report(
    groups: Mapping[str, Sequence[str | Path | RunResult]],
    out_dir: str | Path,
    threshold: float | None = None,
    title: str | None = None,
    context: Sequence[str] = (),
    reps: int = statistics.DEFAULT_REPS,
) -> Path:
    """Writes curves.png, scores.png, runs.csv, results.json, report.md and report.html to `out_dir`.

    `groups` maps a variant label to its runs (directories or loaded runs). `threshold` is the
    return for steps-to-threshold (default: the runs' target return). `context` lines (e.g.
    the command that made the runs) go at the top of the report. Returns report.html's path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = {
        label: [run if isinstance(run, RunResult) else load_run(run) for run in runs]
        for label, runs in groups.items()
        if runs
    }
    all_runs = [run for runs in loaded.values() for run in runs]
    if not all_runs:
        raise DqnlabError("no runs to compare")
    if threshold is None:
        threshold = next((run.target_return for run in all_runs if run.target_return is not None), None)
    source = "eval" if all(run.source == "eval" for run in all_runs) else "train"
    if source == "train":  # mixed sources are not comparable: use training returns for all
        loaded = {label: [_as_train(run) for run in runs] for label, runs in loaded.items()}
    grid, scored = score_variants(loaded, threshold, reps=reps)
    env_id = str(all_runs[0].config.get("env_id", "?"))
    counts = sorted({len(variant.runs) for variant in scored})
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    title = title or f"{env_id}: {len(scored)} variants x {seeds} seeds"

    _curves_figure(grid, scored, out_dir / "curves.png", title, source, threshold)
    _scores_figure(scored, out_dir / "scores.png")
    with open(out_dir / "runs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RUN_HEADER)
        writer.writerows(_run_table_rows(scored))
    results = {
        "env_id": env_id,
        "threshold": threshold,
        "curve_source": source,
        "grid": [float(grid[0]), float(grid[-1]), len(grid)],
        "variants": {
            v.label: {
                "seeds": [run.seed for run in v.runs],
                "final_return": {"per_seed": v.final_R.tolist(), **{k: list(t) for k, t in v.final.items()}},
                "auc": {"per_seed": v.auc_R.tolist(), **{k: list(t) for k, t in v.auc.items()}},
                "steps_to_threshold": v.steps_to_threshold,
                "hold_rate": {
                    "per_seed": [None if np.isnan(h) else float(h) for h in v.hold_R],
                    **{k: list(t) for k, t in (v.hold or {}).items()},
                },
                "last_10_mean": {"per_seed": v.last10_R.tolist(), **{k: list(t) for k, t in v.last10.items()}},
                "held_at_end": v.held_at_end,
                "collapses": {"per_seed": v.collapses_R.tolist(), **{k: list(t) for k, t in v.collapses.items()}},
            }
            for v in scored
        },
        "stability_ranking": [v.label for v in stability_ranking(scored)],
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    method = (
        f"Curves: {'greedy evaluation returns (eval.csv)' if source == 'eval' else 'training-episode returns'} "
        f"interpolated onto {len(grid)} points from {grid[0]:,.0f} to {grid[-1]:,.0f} env steps; a run that "
        f"ended early holds its last value. Final return: "
        f"{'the last evaluation' if source == 'eval' else f'the mean of the last {EPISODE_WINDOW} episodes'}. "
        f"AUC: area under the interpolated curve divided by the step span (the mean return over training). "
        f"Intervals: 95% percentile intervals from {reps} stratified-bootstrap resamples of the seeds "
        f"(Agarwal et al. 2021); IQM = mean of the middle 50% of the seeds' scores (with fewer than 4 seeds it "
        f"is the mean). With few seeds, percentile-bootstrap intervals are too narrow: read them as optimistic, "
        f"and prefer 10 or more seeds before calling a difference. "
        f"Steps to threshold: the first {'evaluation' if source == 'eval' else 'training episode'} at or above "
        f"{threshold if threshold is not None else '-'}. "
        f"Stability, from each run's own {'evaluations' if source == 'eval' else 'training episodes'}: the last-10 "
        f"mean is the mean of the last {stability.LAST_EVALUATIONS}; the hold rate is the share of those after "
        f"the first one at or above the threshold that are at or above it too (a run that never reached it, or "
        f"only at its last point, has none and is left out of the variant's hold rate: the count in brackets); "
        f"collapses are those detected during training (collapses.csv). Variants are ranked by the IQM of the "
        f"last-10 mean, then the mean hold rate, then the IQM of the AUC; a variant whose last-10 interval "
        f"lies wholly below the top one's is marked below."
    )
    notes = _overlap_notes(scored)
    score_rows, run_rows = _score_table_rows(scored), _run_table_rows(scored)
    stability_rows = _stability_table_rows(scored)

    markdown = [f"# {title}", ""]
    markdown += [f"    {line}" for line in context] + ([""] if context else [])
    markdown += [
        "![learning curves](curves.png)",
        "",
        "## Scores",
        "",
        _markdown_table(SCORE_HEADER, score_rows),
        "",
        "![scores](scores.png)",
        "",
        "## Stability: did the variants stay solved?",
        "",
        _markdown_table(STABILITY_HEADER, stability_rows),
        "",
        "## Reading",
        "",
    ]
    markdown += [f"- {note}" for note in notes] + [
        "",
        f"_Method._ {method}",
        "",
        "## Runs",
        "",
        _markdown_table(RUN_HEADER, run_rows),
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(markdown))

    def image(name: str) -> str:
        encoded = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
        return f'<img alt="{name}" src="data:image/png;base64,{encoded}">'

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{f"<pre>{html.escape(chr(10).join(context))}</pre>" if context else ""}
{image("curves.png")}
<h2>Scores</h2>
{_html_table(SCORE_HEADER, score_rows)}
{image("scores.png")}
<h2>Stability: did the variants stay solved?</h2>
{_html_table(STABILITY_HEADER, stability_rows)}
<h2>Reading</h2>
<ul>{"".join(f"<li>{_markdown_inline(note)}</li>" for note in notes)}</ul>
<p><i>Method.</i> {html.escape(method)}</p>
<h2>Runs</h2>
{_html_table(RUN_HEADER, run_rows)}
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def _as_train(run: RunResult) -> RunResult:
    """The same run with its training-episode returns as the curve."""
    if run.source == "train":
        return run
    episodes = read_csv_rows(run.run_dir / "metrics.csv")
    if not episodes:
        raise DqnlabError(f"{run.run_dir} has no finished episodes to compare")
    return RunResult(
        run.run_dir,
        run.config,
        run.seed,
        np.array([int(r["step"]) for r in episodes]),
        np.array([parse_float(r["return"]) for r in episodes]),
        "train",
        run.target_return,
        run.collapses,
    )


def format_console_summary(report_dir: Path) -> str:
    """A few lines for the terminal from results.json: IQM of the final return and AUC per variant."""
    results = json.loads((Path(report_dir) / "results.json").read_text())
    lines = []
    for label, values in results["variants"].items():
        final, auc = values["final_return"]["iqm"], values["auc"]["iqm"]
        reached = [s for s in values["steps_to_threshold"] if s is not None]
        last10, hold = values["last_10_mean"]["iqm"], values["hold_rate"].get("mean")
        lines.append(
            f"  {label}: final return IQM {final[0]:.1f} [{final[1]:.1f}, {final[2]:.1f}], "
            f"AUC IQM {auc[0]:.1f} [{auc[1]:.1f}, {auc[2]:.1f}], "
            f"reached threshold {len(reached)}/{len(values['seeds'])}, "
            f"last-10 mean IQM {last10[0]:.1f} [{last10[1]:.1f}, {last10[2]:.1f}], "
            f"hold rate {'-' if hold is None else f'{hold[0]:.2f}'}"
        )
    lines.append(f"  stability ranking (last-10 mean IQM, then hold rate): {', '.join(results['stability_ranking'])}")
    return "\n".join(lines)
