"""Shared fixtures: the real Ariel files shipped in ``resources/ariel`` (read once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spectramind import io

ARIEL = Path(__file__).resolve().parents[1] / "resources" / "ariel"


@pytest.fixture(scope="session")
def ariel() -> Path:
    """``resources/ariel`` (README.md, 2024/, 2025/)."""
    return ARIEL


@pytest.fixture(scope="session")
def real_maps() -> dict[str, io.CalibrationMaps]:
    """Real calibration maps of planet 342072318, visit 0, per instrument."""
    cal = ARIEL / "2025" / "calibration"
    return {i: io.read_calibration(cal / f"{i}_calibration_0", i) for i in io.INSTRUMENTS}


@pytest.fixture(scope="session")
def real_axis() -> io.AxisInfo:
    return io.read_axis_info(ARIEL / "2025" / "axis_info.parquet")


@pytest.fixture(scope="session")
def real_adc() -> dict[str, tuple[float, float]]:
    return io.read_adc_info(ARIEL / "2025" / "adc_info.csv")


@pytest.fixture(scope="session")
def real_wavelengths() -> np.ndarray:
    return io.read_wavelengths(ARIEL / "2025" / "wavelengths.csv")
