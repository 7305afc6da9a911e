"""One report over the variants of several forgetting experiments (docs/forgetting.md).

    python scripts/forgetting_report.py --out experiments/forgetting-report \
        experiments/CartPole-forgetting experiments/CartPole-forgetting-candidates [--only baseline,layer-norm]

Each experiment directory holds runs/VARIANT/seed-K (what `examples/forgetting.sh` writes); the
report (`dqnlab.diagnostics.report`, as `dqnlab experiment` writes one) names each variant as the
script does, ranks them on the stability measures with 95% bootstrap intervals, and draws their
curves. Variants whose seeds have not all finished are left out and listed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dqnlab.diagnostics.report import build_report


def finished_variants(experiments: list[Path]) -> tuple[dict[str, list[Path]], list[str]]:
    """(variant -> its seeds' run directories, for variants whose seeds all wrote summary.json; the others)."""
    groups: dict[str, list[Path]] = {}
    unfinished = []
    for experiment in experiments:
        for variant in sorted(path for path in (experiment / "runs").iterdir() if path.is_dir()):
            seeds = sorted(variant.glob("seed-*"))
            if seeds and all((seed / "summary.json").is_file() for seed in seeds):
                groups[variant.name] = seeds
            else:
                unfinished.append(variant.name)
    return groups, unfinished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", help="these variants alone, comma-separated, in this order (a readable figure)")
    args = parser.parse_args()
    groups, unfinished = finished_variants(args.experiments)
    if args.only:
        groups = {name: groups[name] for name in args.only.split(",")}
    context = [f"experiments: {', '.join(map(str, args.experiments))}"]
    if unfinished:
        context.append(f"not finished, left out: {', '.join(unfinished)}")
    print(build_report(groups, args.out, context=context))


if __name__ == "__main__":
    main()
