"""SpectraMind V50: Ariel Data Challenge 2025 pipeline (raw frames -> spectra)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectramind")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
