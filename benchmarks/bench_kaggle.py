"""Full-size time per planet through the Kaggle bundle, and the projection to the hidden test set.

    python benchmarks/bench_kaggle.py --data DATA --python KAGGLE_PYTHON [--cores 2]

DATA: a challenge-layout folder with a test split (e.g. ``spectramind simulate DATA --n-train 0
--n-test 1 --seed 7 --time-scale 1``: one full-size planet). KAGGLE_PYTHON: a Python with the
Kaggle image's versions (tests/test_kaggle.py builds one). A bundle of the default config with
the physics method (no checkpoint needed: the per-planet chain calibrate -> phase -> fit_transit
is the same for every method) is built and booted on DATA with no network (``unshare -n``); the
recorded seconds of each planet's chain are printed with the projection to ``--planets``
planets on ``--kaggle-cores`` cores (the rules are single-threaded: planets run side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from snakemake.utils import validate

from spectramind.kaggle import build_bundle

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--python", type=Path, required=True)
    ap.add_argument("--cores", default="2")
    ap.add_argument("--planets", type=int, default=1100)
    ap.add_argument("--kaggle-cores", type=int, default=4)
    ap.add_argument("--keep", type=Path, default=None, help="keep the bundle and output here")
    args = ap.parse_args()
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(cfg, str(REPO / "schemas" / "config.schema.yaml"), set_default=True)
    with tempfile.TemporaryDirectory(prefix="bench-kaggle-") as tmp:
        root = args.keep or Path(tmp)
        bundle, out = root / "bundle", root / "out"
        for d in (bundle, out):
            shutil.rmtree(d, ignore_errors=True)
        t0 = time.perf_counter()
        build_bundle(
            bundle,
            project=REPO,
            boot_script=REPO / "bin" / "kaggle-boot.sh",
            config=cfg,
            method="physics",
            train_labels=np.full((2, 283), 0.0147) + np.arange(2)[:, None] * 1e-3,
            image_packages=REPO / cfg["kaggle"]["image_packages"],
            pythons=cfg["kaggle"]["python"],
        )
        print(f"bundle built in {time.perf_counter() - t0:.1f} s")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "LANG": "C.UTF-8",
            "PYTHON": str(args.python),
            "CORES": args.cores,
            "PIP_NO_INDEX": "1",
        }
        t0 = time.perf_counter()
        subprocess.run(
            ["unshare", "-n", "bash", str(bundle / "kaggle-boot.sh"), str(args.data), str(out)],
            env=env,
            check=True,
        )
        wall = time.perf_counter() - t0
        load = os.getloadavg()
        fence = json.loads((out / "fence.json").read_text())
        secs = [p["seconds"] for p in fence["planets"] if p["seconds"] is not None]
        bench = out / "spectramind-work" / "run" / "results" / "benchmarks"
        for rule in ("calibrate", "phase", "fit_transit"):
            for f in sorted((bench / rule).glob("*.tsv")):
                row = dict(
                    zip(*[line.split("\t") for line in f.read_text().splitlines()[:2]], strict=True)
                )
                print(
                    f"  {rule:12s} {f.stem}: {float(row['s']):8.1f} s, max RSS {row['max_rss']} MB"
                )
        per_planet = float(np.mean(secs))
        hours = args.planets * per_planet / args.kaggle_cores / 3600
        print(
            f"boot wall time {wall:.1f} s for {len(fence['planets'])} planet(s) on {args.cores} cores "
            f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
        )
        print(
            f"per-planet chain {per_planet:.1f} s -> {args.planets} planets on {args.kaggle_cores} "
            f"cores: {hours:.2f} h (fence limit {fence['wall_limit_h']} h)"
        )


if __name__ == "__main__":
    main()
