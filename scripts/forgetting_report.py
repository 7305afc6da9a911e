"""One report over the variants of several forgetting experiments (docs/forgetting.md).

    python scripts/forgetting_report.py --out experiments/forgetting-report \
        experiments/CartPole-forgetting experiments/CartPole-forgetting-candidates [--only baseline,layer-norm]

Each experiment directory holds the runs its experiment.json plans (what `examples/forgetting.sh`
writes, variants merged into one population or not); the report (`dqnlab.diagnostics.report`, as
`dqnlab experiment` writes one) names each variant as the script does, ranks them on the stability
measures with 95% bootstrap intervals, and draws their curves. Variants whose seeds have not all
finished are left out and listed. A variant name planned by two experiments is refused (their runs
would pool as one variant); `--drop EXPERIMENT:VARIANT` leaves one of them out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from pathlib import Path

from dqnlab.diagnostics.report import build_report
from dqnlab.experiments.run import planned_runs


def finished_variants(
    experiments: list[Path], dropped: Collection[tuple[Path, str]] = ()
) -> tuple[dict[str, list[Path]], list[str]]:
    """(variant -> its seeds' run directories, for variants whose seeds all wrote summary.json; the
    others), leaving out the (experiment, variant) pairs in `dropped`."""
    planned: dict[str, list[Path]] = {}
    planned_by: dict[str, Path] = {}
    for experiment in experiments:
        for spec in planned_runs(experiment)[1]:
            for label, run_dir in spec.labelled_run_dirs:
                if (experiment, label) in dropped:
                    continue
                if planned_by.setdefault(label, experiment) != experiment:
                    raise SystemExit(
                        f"{Path(sys.argv[0]).name}: variant '{label}' is planned by {planned_by[label]} and "
                        f"{experiment}; leave one out with --drop {experiment}:{label}"
                    )
                planned.setdefault(label, []).append(run_dir)
    groups = {
        label: run_dirs
        for label, run_dirs in sorted(planned.items())
        if all((run_dir / "summary.json").is_file() for run_dir in run_dirs)
    }
    return groups, [label for label in sorted(planned) if label not in groups]


def dropped_variants(parser: argparse.ArgumentParser, items: list[str]) -> set[tuple[Path, str]]:
    """The (experiment, variant) pairs of `--drop EXPERIMENT:VARIANT`; one without a colon is refused."""
    pairs = [item.rsplit(":", 1) for item in items]
    if any(len(pair) != 2 for pair in pairs):
        parser.error("--drop takes EXPERIMENT:VARIANT")
    return {(Path(experiment), variant) for experiment, variant in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="these variants alone, comma-separated, in this order (a readable figure)")
    parser.add_argument("--drop", action="append", default=[], metavar="EXPERIMENT:VARIANT", help="leave this out")
    args = parser.parse_args()
    groups, unfinished = finished_variants(args.experiments, dropped_variants(parser, args.drop))
    if args.only:
        groups = {name: groups[name] for name in args.only.split(",")}
    context = [f"experiments: {', '.join(map(str, args.experiments))}"]
    if unfinished:
        context.append(f"not finished, left out: {', '.join(unfinished)}")
    print(build_report(groups, args.out, context=context))


if __name__ == "__main__":
    main()
