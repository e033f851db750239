"""Tests for :mod:`spectramind.io` on the real challenge files and on broken inputs."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectramind import io

ARIEL = Path(__file__).resolve().parents[1] / "resources" / "ariel"
CAL = ARIEL / "2025" / "calibration"
EXCERPTS = ARIEL / "2025" / "excerpts"
WIDTH = {"AIRS-CH0": 356, "FGS1": 32}

# Values read back through io and through pyarrow directly are the same float64 numbers:
# any difference at all is a bug, so they are compared exactly. Hard-coded reference numbers
# were printed with repr() from the files: 1e-12 relative covers only their last-digit rounding.
REPR_RTOL = 1e-12
# wavelengths.csv and axis_info.parquet hold the same grid written by two programs: their
# text/binary round trips differ at the 1e-15 level (observed 2e-15 um), 1e-9 um is far below
# the ~0.0089 um bin spacing, so a one-column shift would still fail.
WL_ATOL = 1e-9
# times are stored in hours; one float64 ulp of 7.5 h is ~1e-15 h = 3.6e-12 s. 1e-6 s is a
# loose bound on the arithmetic (t * 3600) and far below the 0.1 s read spacing.
TIME_ATOL_S = 1e-6
# Decoded excerpt CDS fluxes vs the DESIGN.md figures (quoted to 2 significant digits): 5 %.
DESIGN_FLUX_RTOL = 0.05


def _pyarrow_array(path: Path) -> np.ndarray:
    return pq.read_table(path).to_pandas().to_numpy()


def _excerpt(instrument: str) -> np.ndarray:
    col = pq.read_table(
        EXCERPTS / f"{instrument}_signal_0__first50frames_flattened.parquet"
    ).column(0)
    return col.to_numpy().reshape(50, 32, WIDTH[instrument])


def _assert_names(excinfo: pytest.ExceptionInfo[io.DataError], path: Path) -> None:
    assert Path(excinfo.value.path) == Path(path)
    assert str(path) in str(excinfo.value)


def _write_table(path: Path, columns: list[pa.Array], names: list[str] | None = None) -> Path:
    names = names or io.column_names(len(columns))
    pq.write_table(pa.table(columns, names=names), path)
    return path


# --------------------------------------------------------------------------- calibration maps
@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_real_calibration_shapes_and_dtypes(real_maps, instrument):
    m, w = real_maps[instrument], WIDTH[instrument]
    for name in ("dark", "flat", "read"):
        arr = getattr(m, name)
        assert arr.dtype == np.float64 and arr.shape == (32, w), name
    assert m.dead.dtype == np.bool_ and m.dead.shape == (32, w)
    assert m.linear_corr.dtype == np.float64 and m.linear_corr.shape == (6, 32, w)


@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_real_calibration_equals_pyarrow(real_maps, instrument):
    m, d = real_maps[instrument], CAL / f"{instrument}_calibration_0"
    for name in ("dark", "flat", "read", "dead"):
        np.testing.assert_array_equal(
            getattr(m, name), _pyarrow_array(d / f"{name}.parquet"), err_msg=name
        )
    raw = _pyarrow_array(d / "linear_corr.parquet")  # (6*32, W): coefficient k is rows 32k..32k+31
    for k in range(6):
        np.testing.assert_array_equal(m.linear_corr[k], raw[32 * k : 32 * (k + 1)])


def test_real_calibration_known_values(real_maps):
    airs, fgs = real_maps["AIRS-CH0"], real_maps["FGS1"]
    pa_airs_dark = _pyarrow_array(CAL / "AIRS-CH0_calibration_0" / "dark.parquet")
    pa_fgs_read = _pyarrow_array(CAL / "FGS1_calibration_0" / "read.parquet")
    assert airs.dark.max() == pa_airs_dark.max()
    assert fgs.read.mean() == pa_fgs_read.mean()
    assert airs.dark.max() == pytest.approx(11.91650836308298, rel=REPR_RTOL)
    assert fgs.read.mean() == pytest.approx(14.245119944314713, rel=REPR_RTOL)
    assert airs.flat[0, 0] == pytest.approx(1.0043468822393689, rel=REPR_RTOL)
    assert airs.read[16, 100] == pytest.approx(13.590863030855767, rel=REPR_RTOL)
    assert fgs.flat[0, 0] == pytest.approx(1.0256065632883287, rel=REPR_RTOL)
    assert np.argwhere(fgs.dead).tolist() == [[3, 28], [12, 21], [29, 9]]
    assert int(airs.dead.sum()) == 12
    # every negative flat value sits on a dead pixel
    for m in (airs, fgs):
        assert m.dead[m.flat < 0].all()


@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_real_linear_corr_is_near_identity(real_maps, instrument):
    """c1 ~ 1 and |c2| small everywhere: the (6, 32, W) reshape picked the coefficient planes."""
    c = real_maps[instrument].linear_corr
    assert np.all((c[1] > 0.95) & (c[1] < 1.03))
    assert np.abs(c[2]).max() < 1e-5
    assert np.abs(c[5]).max() < 1e-15


def test_write_calibration_round_trip(real_maps, tmp_path):
    for inst, m in real_maps.items():
        io.write_calibration(tmp_path / inst, m)
        back = io.read_calibration(tmp_path / inst, inst)
        for name in io.CALIBRATION_MAPS:
            np.testing.assert_array_equal(
                getattr(back, name), getattr(m, name), err_msg=f"{inst} {name}"
            )
        assert back.dead.dtype == np.bool_


# --------------------------------------------------------------------------- axes, tables
def test_axis_info(real_axis):
    ax = real_axis
    assert ax.airs_time_h.size == 11250
    assert ax.airs_wavelength_um.size == 356
    assert ax.airs_integration_s.size == 11250
    assert ax.fgs_time_h.size == 135000
    wl = ax.airs_wavelength_um
    assert np.all(np.diff(wl) < 0)
    assert wl[0] == pytest.approx(4.078463140898873, rel=REPR_RTOL)
    assert wl[-1] == pytest.approx(1.633252720445203, rel=REPR_RTOL)
    np.testing.assert_array_equal(ax.airs_integration_s[0::2], 0.1)
    np.testing.assert_array_equal(ax.airs_integration_s[1::2], 4.5)
    airs_s, fgs_s = ax.airs_time_h * 3600, ax.fgs_time_h * 3600
    np.testing.assert_allclose(np.diff(airs_s[::2]), 4.8, atol=TIME_ATOL_S)  # pair starts
    np.testing.assert_allclose(np.diff(fgs_s[::2]), 0.4, atol=TIME_ATOL_S)
    np.testing.assert_allclose(
        airs_s[1::2] - airs_s[::2], 0.1, atol=TIME_ATOL_S
    )  # start -> end read
    assert fgs_s[-1] == pytest.approx(7.5 * 3600 - 0.2, abs=TIME_ATOL_S)  # 7.5 h visit


def test_axis_info_missing_column(tmp_path, real_axis):
    path = tmp_path / "axis_info.parquet"
    pd.DataFrame({"AIRS-CH0-axis0-h": real_axis.airs_time_h}).to_parquet(path)
    with pytest.raises(io.DataError, match="missing columns") as ei:
        io.read_axis_info(path)
    _assert_names(ei, path)


def test_wavelengths_match_axis(real_wavelengths, real_axis):
    wl = real_wavelengths
    assert wl.shape == (283,)
    assert wl[0] == 0.7
    assert np.all(np.diff(wl[1:]) > 0)
    assert wl[1] == pytest.approx(1.9517606900, abs=WL_ATOL * 10)  # printed to 8 decimals
    assert wl[-1] == pytest.approx(3.8950360211953727, rel=REPR_RTOL)
    np.testing.assert_allclose(
        wl[1:], real_axis.airs_wavelength_um[39:321][::-1], rtol=0, atol=WL_ATOL
    )


def test_adc_info(real_adc):
    assert real_adc == {"FGS1": (0.4369, -1000.0), "AIRS-CH0": (0.4369, -1000.0)}


def test_star_info_and_labels():
    test = io.read_star_info(ARIEL / "2025" / "test_star_info.csv")
    assert test.index.tolist() == [1103775]
    assert test.loc[1103775, "Ts"] == pytest.approx(5539.0303695099365, rel=REPR_RTOL)
    train = io.read_star_info(ARIEL / "2025" / "train_star_info.csv")
    assert train.shape == (900, 8) and train.index.dtype == np.int64
    assert (train["e"] == 0).all()
    labels = io.read_labels(ARIEL / "2024" / "train_labels.csv")
    assert labels.shape == (473, 283) and list(labels.columns) == io.WL_COLUMNS
    # 2024 depths are shallower than 2025 ones (README: mean ~0.0026)
    assert labels.to_numpy().mean() == pytest.approx(0.0026, abs=0.0002)


# --------------------------------------------------------------------------- signals
@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_excerpt_signal_round_trip(instrument, tmp_path):
    frames = _excerpt(instrument)
    assert frames.dtype == np.uint16 and frames.shape == (50, 32, WIDTH[instrument])
    path = tmp_path / f"{instrument}_signal_0.parquet"
    io.write_signal(path, frames)
    table = pq.read_table(path)
    assert table.column_names == io.column_names(32 * WIDTH[instrument])
    assert table.num_rows == 50
    assert all(t == pa.uint16() for t in table.schema.types)
    np.testing.assert_array_equal(table.column(0).to_numpy(), frames[:, 0, 0])  # one frame per row
    back = io.read_signal(path, instrument)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, frames)
    assert not (tmp_path / f"{instrument}_signal_0.parquet.part").exists()


def test_excerpt_known_values():
    airs, fgs = _excerpt("AIRS-CH0"), _excerpt("FGS1")
    assert airs[0, 0, :5].tolist() == [424, 427, 433, 448, 443]
    assert int(airs[0, 16, 180]) == 534 and int(fgs[0, 15, 16]) == 9730
    assert int(airs.min()) == 293
    assert int(airs.max()) == 26871 and int(fgs.max()) == 23892


def test_excerpt_reshape_puts_light_where_design_says(real_adc):
    """Decoded CDS of the reshaped excerpts: trace on row 16, fluxes as DESIGN.md quotes them."""
    gain, offset = real_adc["AIRS-CH0"]
    x = _excerpt("AIRS-CH0") / gain + offset
    cds = (x[1::2] - x[::2]).mean(0)
    assert int(np.argmax(cds[:, 39:321].sum(1))) == 16
    for col, flux in ((39, 5.3e3), (180, 3.8e4), (320, 1.0e5)):
        assert cds[8:24, col].sum() == pytest.approx(flux, rel=DESIGN_FLUX_RTOL)
    gain, offset = real_adc["FGS1"]
    x = _excerpt("FGS1") / gain + offset
    cds = (x[1::2] - x[::2]).mean(0)
    assert np.unravel_index(cds.argmax(), cds.shape) == (15, 16)
    assert cds.sum() == pytest.approx(2.2e5, rel=DESIGN_FLUX_RTOL)


def test_excerpt_file_itself_is_not_a_signal():
    """The excerpt is one flattened column, not one frame per row: read_signal must refuse it."""
    path = EXCERPTS / "FGS1_signal_0__first50frames_flattened.parquet"
    with pytest.raises(io.DataError, match="1 columns, expected 1024") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


def test_write_signal_rejects_wrong_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        io.write_signal(tmp_path / "x.parquet", np.zeros((2, 32, 32), dtype=np.int32))


# --------------------------------------------------------------------------- broken signals
def _good_signal(path: Path, n: int = 4) -> Path:
    frames = np.arange(n * 32 * 32, dtype=np.uint16).reshape(n, 32, 32)
    io.write_signal(path, frames)
    return path


def test_signal_missing_file(tmp_path):
    path = tmp_path / "FGS1_signal_0.parquet"
    with pytest.raises(io.DataError, match="file not found") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


@pytest.mark.parametrize("keep", [0.5, 0.99, -1, 8])
def test_signal_truncated(tmp_path, keep):
    path = _good_signal(tmp_path / "FGS1_signal_0.parquet")
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path.write_bytes(data[:n])
    with pytest.raises(io.DataError, match="not a readable parquet") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


@pytest.mark.parametrize(
    "content", [b"", b"planet_id,wl_1\n1,0.01\n", b"PAR1" + b"\x00" * 64 + b"PAR1"]
)
def test_signal_not_parquet(tmp_path, content):
    path = tmp_path / "FGS1_signal_0.parquet"
    path.write_bytes(content)
    with pytest.raises(io.DataError, match="not a readable parquet") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


def test_signal_invalid_utf8_column_names(tmp_path):
    """Corrupt names in the footer made pyarrow raise UnicodeDecodeError (found by fuzzing)."""
    path = _good_signal(tmp_path / "FGS1_signal_0.parquet")
    path.write_bytes(path.read_bytes().replace(b"column_7", b"\xffolumn_7"))
    with pytest.raises(io.DataError, match="not a readable parquet") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


@pytest.mark.parametrize("n_cols", [1023, 1025, 11392])
def test_signal_wrong_column_count(tmp_path, n_cols):
    path = _write_table(tmp_path / "s.parquet", [pa.array(np.zeros(2, np.uint16))] * n_cols)
    with pytest.raises(io.DataError, match=f"{n_cols} columns, expected 1024") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16, np.uint32, np.float32, np.float64])
def test_signal_wrong_dtype(tmp_path, dtype):
    cols = [pa.array(np.zeros(2, np.uint16))] * 1023 + [pa.array(np.zeros(2, dtype))]
    path = _write_table(tmp_path / "s.parquet", cols)
    with pytest.raises(io.DataError, match="'column_1023' has type") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


@pytest.mark.parametrize("n_frames", [0, 1, 3, 51])
def test_signal_odd_or_no_frames(tmp_path, n_frames):
    path = _write_table(tmp_path / "s.parquet", [pa.array(np.zeros(n_frames, np.uint16))] * 1024)
    with pytest.raises(io.DataError, match="expected a positive even number") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


def test_signal_with_nulls(tmp_path):
    cols = [pa.array(np.zeros(4, np.uint16))] * 1024
    cols[500] = pa.array([1, None, 3, 4], type=pa.uint16())
    path = _write_table(tmp_path / "s.parquet", cols)
    with pytest.raises(io.DataError, match="'column_500' has 1 missing values") as ei:
        io.read_signal(path, "FGS1")
    _assert_names(ei, path)


def test_signal_multi_chunk_is_read_in_order(tmp_path):
    """Row groups become chunks: rows must be stitched in file order."""
    frames = np.random.default_rng(0).integers(0, 65536, size=(10, 32, 32), dtype=np.uint16)
    flat = frames.reshape(10, -1)
    table = pa.table([pa.array(c) for c in flat.T], names=io.column_names(1024))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path, row_group_size=4)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    np.testing.assert_array_equal(io.read_signal(path, "FGS1"), frames)


@pytest.mark.parametrize("row_group", [1, 3, 4, 7])
def test_signal_streamed_in_whole_pairs(tmp_path, row_group):
    """iter_signal yields row groups in file order as whole start/end pairs (an odd group's
    last frame moves to the next batch); read_signal stitches them to the frames."""
    frames = np.random.default_rng(1).integers(0, 65536, size=(14, 32, 32), dtype=np.uint16)
    flat = frames.reshape(14, -1)
    table = pa.table([pa.array(c) for c in flat.T], names=io.column_names(1024))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path, row_group_size=row_group)
    batches = list(io.iter_signal(io.open_signal(path, "FGS1")))
    assert all(first % 2 == 0 and len(b) % 2 == 0 for first, b in batches)
    assert [first for first, _ in batches] == list(
        np.cumsum([0] + [len(b) for _, b in batches])[:-1]
    )
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), frames)
    np.testing.assert_array_equal(io.read_signal(path, "FGS1"), frames)


def test_signal_nulls_in_a_later_row_group(tmp_path):
    cols = [pa.array(np.zeros(6, np.uint16))] * 1024
    cols[9] = pa.array([1, 2, 3, 4, None, 6], type=pa.uint16())
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table(cols, names=io.column_names(1024)), path, row_group_size=2)
    batches = io.iter_signal(io.open_signal(path, "FGS1"))
    assert next(batches)[0] == 0 and next(batches)[0] == 2  # the clean groups come first
    with pytest.raises(io.DataError, match="'column_9' has 1 missing values") as ei:
        next(batches)
    _assert_names(ei, path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=4096))
def test_random_bytes_raise_data_error(tmp_path, data):
    path = tmp_path / "AIRS-CH0_signal_0.parquet"
    path.write_bytes(data)
    with pytest.raises(io.DataError) as ei:
        io.read_signal(path, "AIRS-CH0")
    _assert_names(ei, path)


@functools.cache
def _good_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        return _good_signal(Path(d) / "good.parquet", n=2).read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.floats(0.0, 1.0),
)
def test_corrupted_parquet_is_data_error_or_valid(tmp_path, edits, cut):
    """A damaged real parquet either still decodes to valid frames or raises DataError."""
    data = bytearray(_good_bytes())
    for pos, value in edits:
        data[int(pos * len(data))] = value
    path = tmp_path / "FGS1_signal_0.parquet"
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
    try:
        frames = io.read_signal(path, "FGS1")
    except io.DataError as exc:
        assert Path(exc.path) == path
    else:
        assert frames.shape == (2, 32, 32) and frames.dtype == np.uint16


# --------------------------------------------------------------------------- broken calibration
def _copy_cal(tmp_path: Path, instrument: str) -> Path:
    dst = tmp_path / f"{instrument}_calibration_0"
    shutil.copytree(CAL / f"{instrument}_calibration_0", dst)
    return dst


@pytest.mark.parametrize(("rows", "cols"), [(31, 32), (32, 33), (192, 32)])
def test_calibration_wrong_shape(tmp_path, rows, cols):
    cal = _copy_cal(tmp_path, "FGS1")
    _write_table(cal / "dark.parquet", [pa.array(np.zeros(rows))] * cols)
    with pytest.raises(io.DataError, match=r"shape .*, expected \(32, 32\)") as ei:
        io.read_calibration(cal, "FGS1")
    _assert_names(ei, cal / "dark.parquet")


def test_calibration_linear_corr_wrong_shape(tmp_path):
    cal = _copy_cal(tmp_path, "FGS1")
    _write_table(cal / "linear_corr.parquet", [pa.array(np.zeros(32))] * 32)  # one plane, not six
    with pytest.raises(io.DataError, match=r"expected \(192, 32\)") as ei:
        io.read_calibration(cal, "FGS1")
    _assert_names(ei, cal / "linear_corr.parquet")


def test_calibration_dead_wrong_dtype(tmp_path):
    cal = _copy_cal(tmp_path, "FGS1")
    _write_table(cal / "dead.parquet", [pa.array(np.zeros(32))] * 32)  # float, not bool
    with pytest.raises(io.DataError, match="expected bool") as ei:
        io.read_calibration(cal, "FGS1")
    _assert_names(ei, cal / "dead.parquet")


def test_calibration_non_finite(tmp_path):
    cal = _copy_cal(tmp_path, "FGS1")
    read = np.full((32, 32), 14.0)
    read[3, 4] = np.nan
    _write_table(cal / "read.parquet", [pa.array(c) for c in read.T])
    with pytest.raises(io.DataError, match="1 non-finite values") as ei:
        io.read_calibration(cal, "FGS1")
    _assert_names(ei, cal / "read.parquet")


def test_calibration_nan_flat_is_allowed(tmp_path, real_maps):
    cal = _copy_cal(tmp_path, "FGS1")
    flat = real_maps["FGS1"].flat.copy()
    flat[5, 6] = np.nan
    _write_table(cal / "flat.parquet", [pa.array(c) for c in flat.T])
    np.testing.assert_array_equal(io.read_calibration(cal, "FGS1").flat, flat)


def test_calibration_missing_map(tmp_path):
    cal = _copy_cal(tmp_path, "AIRS-CH0")
    (cal / "linear_corr.parquet").unlink()
    with pytest.raises(io.DataError, match="file not found") as ei:
        io.read_calibration(cal, "AIRS-CH0")
    _assert_names(ei, cal / "linear_corr.parquet")


# --------------------------------------------------------------------------- discovery
def _visit(pdir: Path, v: int, *, skip: str | None = None) -> None:
    frames = {
        "AIRS-CH0": np.zeros((2, 32, 356), np.uint16),
        "FGS1": np.zeros((2, 32, 32), np.uint16),
    }
    for inst, fr in frames.items():
        if skip != f"{inst}_signal":
            io.write_signal(pdir / f"{inst}_signal_{v}.parquet", fr)
        if skip != f"{inst}_calibration":
            (pdir / f"{inst}_calibration_{v}").mkdir(parents=True)


def test_list_planets_and_visits(tmp_path):
    _visit(tmp_path / "train" / "100", 0)
    _visit(tmp_path / "train" / "100", 1)
    _visit(tmp_path / "train" / "20", 0)
    (tmp_path / "train" / "notes.txt").write_text("a file is not a planet")
    assert io.list_planets(tmp_path, "train") == [20, 100]  # numeric, not lexicographic, order
    assert io.list_visits(tmp_path, "train", 100) == [0, 1]
    assert io.list_visits(tmp_path, "train", 20) == [0]


def test_list_planets_missing_split(tmp_path):
    with pytest.raises(io.DataError, match="split folder 'test' not found") as ei:
        io.list_planets(tmp_path, "test")
    _assert_names(ei, tmp_path / "test")


@pytest.mark.parametrize("name", ["abc", "12a", ".ipynb_checkpoints", "-5", "\u00b2", "1 2"])
def test_list_planets_non_numeric_folder(tmp_path, name):
    (tmp_path / "train" / "7").mkdir(parents=True)
    (tmp_path / "train" / name).mkdir()
    with pytest.raises(io.DataError, match="not a numeric planet id") as ei:
        io.list_planets(tmp_path, "train")
    _assert_names(ei, tmp_path / "train" / name)


@pytest.mark.parametrize(
    ("skip", "missing"),
    [
        ("FGS1_signal", "FGS1_signal_1.parquet"),
        ("FGS1_calibration", "FGS1_calibration_1"),
        ("AIRS-CH0_calibration", "AIRS-CH0_calibration_1"),
    ],
)
def test_list_visits_incomplete(tmp_path, skip, missing):
    pdir = tmp_path / "train" / "5"
    _visit(pdir, 0)
    _visit(pdir, 1, skip=skip)
    with pytest.raises(io.DataError) as ei:
        io.list_visits(tmp_path, "train", 5)
    _assert_names(ei, pdir / missing)


def test_list_visits_no_signal_or_no_folder(tmp_path):
    (tmp_path / "train" / "5").mkdir(parents=True)
    with pytest.raises(io.DataError, match="no AIRS-CH0_signal") as ei:
        io.list_visits(tmp_path, "train", 5)
    _assert_names(ei, tmp_path / "train" / "5")
    with pytest.raises(io.DataError, match="planet folder not found") as ei:
        io.list_visits(tmp_path, "train", 6)
    _assert_names(ei, tmp_path / "train" / "6")


# --------------------------------------------------------------------------- broken CSV tables
@pytest.fixture()
def labels_df() -> pd.DataFrame:
    return pd.read_csv(ARIEL / "2024" / "train_labels.csv", nrows=3)


def test_labels_missing_column(tmp_path, labels_df):
    path = tmp_path / "train.csv"
    labels_df.drop(columns="wl_283").to_csv(path, index=False)
    with pytest.raises(io.DataError, match=r"missing \['wl_283'\], extra \[\]") as ei:
        io.read_labels(path)
    _assert_names(ei, path)


def test_labels_extra_column(tmp_path, labels_df):
    path = tmp_path / "train.csv"
    pd.concat([labels_df, pd.DataFrame({"sigma_1": [0.1] * len(labels_df)})], axis=1).to_csv(
        path, index=False
    )
    with pytest.raises(io.DataError, match=r"missing \[\], extra \['sigma_1'\]") as ei:
        io.read_labels(path)
    _assert_names(ei, path)


def test_labels_round_trip(tmp_path, labels_df):
    path = tmp_path / "train.csv"
    labels_df.to_csv(path, index=False)
    got = io.read_labels(path)
    assert got.index.tolist() == labels_df["planet_id"].tolist()
    np.testing.assert_array_equal(got.to_numpy(), labels_df[io.WL_COLUMNS].to_numpy())


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("wl_5", "x", "non-numeric"),
        ("wl_5", np.nan, "non-finite"),
        ("planet_id", np.nan, "non-negative integers"),
        ("planet_id", 12.5, "non-negative integers"),
        ("planet_id", "p1", "non-numeric"),
    ],
)
def test_labels_bad_values(tmp_path, labels_df, column, value, match):
    path = tmp_path / "train.csv"
    df = labels_df.astype({column: object})
    df.loc[1, column] = value
    df.to_csv(path, index=False)
    with pytest.raises(io.DataError, match=match) as ei:
        io.read_labels(path)
    _assert_names(ei, path)


def test_labels_duplicated_planet(tmp_path, labels_df):
    path = tmp_path / "train.csv"
    pd.concat([labels_df, labels_df.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(io.DataError, match="duplicated planet_id") as ei:
        io.read_labels(path)
    _assert_names(ei, path)


@pytest.fixture()
def star_df() -> pd.DataFrame:
    return pd.read_csv(ARIEL / "2025" / "train_star_info.csv", nrows=3)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.rename(columns={"sma": "a"}),
        lambda d: d.drop(columns="e"),
        lambda d: d.assign(extra=1.0),
        lambda d: d[["Rs", "planet_id", "Ms", "Ts", "Mp", "e", "P", "sma", "i"]],
    ],
    ids=["renamed", "missing", "extra", "reordered"],
)
def test_star_info_wrong_columns(tmp_path, star_df, edit):
    path = tmp_path / "train_star_info.csv"
    edit(star_df).to_csv(path, index=False)
    with pytest.raises(io.DataError, match="expected") as ei:
        io.read_star_info(path)
    _assert_names(ei, path)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("Ts", "hot", "non-numeric"),
        ("P", np.inf, "non-finite"),
        ("planet_id", 1.5, "non-negative integers"),
        ("planet_id", -3, "non-negative integers"),
    ],
)
def test_star_info_bad_values(tmp_path, star_df, column, value, match):
    path = tmp_path / "train_star_info.csv"
    df = star_df.astype({column: object})
    df.loc[0, column] = value
    df.to_csv(path, index=False)
    with pytest.raises(io.DataError, match=match) as ei:
        io.read_star_info(path)
    _assert_names(ei, path)


def test_star_info_missing_and_unreadable(tmp_path):
    path = tmp_path / "stars.csv"
    with pytest.raises(io.DataError, match="file not found") as ei:
        io.read_star_info(path)
    _assert_names(ei, path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(io.DataError, match="not a readable CSV") as ei:
        io.read_star_info(path)
    _assert_names(ei, path)


@pytest.mark.parametrize(
    "text",
    [
        "FGS1_adc_offset,FGS1_adc_gain,AIRS-CH0_adc_offset,AIRS-CH0_adc_gain\n",
        "FGS1_adc_offset,FGS1_adc_gain,AIRS-CH0_adc_offset,AIRS-CH0_adc_gain\n-1000,x,-1000,0.4369\n",
        "FGS1_adc_offset,FGS1_adc_gain,AIRS-CH0_adc_offset,AIRS-CH0_adc_gain\n-1000,0,-1000,0.4369\n",
        "FGS1_adc_offset,FGS1_adc_gain,AIRS-CH0_adc_offset\n-1000,0.4369,-1000\n",
    ],
    ids=["no-row", "non-numeric", "zero-gain", "missing-column"],
)
def test_adc_info_bad(tmp_path, text):
    path = tmp_path / "adc_info.csv"
    path.write_text(text)
    with pytest.raises(io.DataError) as ei:
        io.read_adc_info(path)
    _assert_names(ei, path)


@pytest.mark.parametrize("edit", ["drop", "text", "negative"])
def test_wavelengths_bad(tmp_path, edit):
    df = pd.read_csv(ARIEL / "2025" / "wavelengths.csv").astype(object)
    if edit == "drop":
        df = df.drop(columns="wl_283")
    else:
        df.loc[0, "wl_10"] = "x" if edit == "text" else -1.0
    path = tmp_path / "wavelengths.csv"
    df.to_csv(path, index=False)
    with pytest.raises(io.DataError) as ei:
        io.read_wavelengths(path)
    _assert_names(ei, path)
