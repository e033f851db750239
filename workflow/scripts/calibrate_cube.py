"""Rule calibrate: rules calibrate_series and phase of one planet as one job.

Their own scripts (calibrate.py, phase.py) run in turn in this one process, so a planet pays
the start of a job and the imports (numpy, pandas, xarray, the calibration package) once
instead of twice; each script sees the files of its own rule (``snakemake`` is a view of
this job's).
"""

import copy
import runpy
from pathlib import Path


class Files(list):
    """A rule's file list: by position and by name (as Snakemake's own)."""

    def __init__(self, **named: str) -> None:
        super().__init__(named.values())
        self.__dict__.update(named)


def run_step(script: str, **files: Files) -> None:
    """Run ``script`` (next to this one) with this job's ``snakemake`` but ``files``."""
    view = copy.copy(snakemake)
    for name, value in files.items():
        setattr(view, name, value)
    runpy.run_path(str(Path(snakemake.scriptdir) / script), init_globals={"snakemake": view})


out, inp = snakemake.output, snakemake.input
run_step("calibrate.py", output=Files(series=out.series))
run_step(
    "phase.py",
    input=Files(series=out.series, stars=inp.stars, wavelengths=inp.wavelengths),
    output=Files(cube=out.cube),
)
