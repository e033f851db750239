"""Command line: ``spectramind simulate OUT --n-train N --n-test M --seed S ...``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def _simulate(args: argparse.Namespace) -> int:
    from spectramind.sim import simulate_dataset

    t = time.perf_counter()
    simulate_dataset(
        args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
        time_scale=args.time_scale, stars=args.stars, spectra=args.spectra,
        calibration=args.calibration, second_visit_fraction=args.second_visit_fraction,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(f"wrote {args.out} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spectramind", description="SpectraMind V50 tools")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "simulate",
        help="write a simulated dataset in the exact Ariel Data Challenge 2025 layout",
        description="Simulate raw FGS1/AIRS-CH0 frames, calibration maps, star info, labels "
        "(train.csv) and test truth (test_truth.csv) in the challenge layout.",
    )
    s.add_argument("out", help="output data root (created)")
    s.add_argument("--n-train", type=int, required=True, help="planets in the train split")
    s.add_argument("--n-test", type=int, required=True, help="planets in the test split")
    s.add_argument("--seed", type=int, required=True, help="random seed (deterministic output)")
    s.add_argument("--time-scale", type=int, default=1,
                   help="K: K times fewer frame pairs over the same 7.5 h, noise / sqrt(K) (default 1 = full size)")
    s.add_argument("--stars", help="CSV in the star_info format; planet ids and geometry come from its rows")
    s.add_argument("--spectra", help="CSV in the train.csv format: true spectra used as given")
    s.add_argument("--calibration", help="folder with {AIRS-CH0,FGS1}_calibration_0/ maps (default: the real maps)")
    s.add_argument("--second-visit-fraction", type=float, default=0.1,
                   help="fraction of planets observed twice (at least one when > 0; default 0.1)")
    s.set_defaults(func=_simulate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, OSError) as exc:  # DataError is a ValueError: name the file, no traceback
        print(f"spectramind {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
