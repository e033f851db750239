"""Rule-script logging (spectramind.rulelog): the log file, and the echo to the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
from spectramind.rulelog import log_to
log_to(sys.argv[1], echo=["spectramind.model"], prefix="train_model: ")
logging.getLogger("spectramind.model.train").info("epoch 5/60: val score 0.6120")
logging.getLogger("spectramind.io").info("read 3 files")
"""


def test_log_to_writes_the_log_and_echoes_the_named_loggers(tmp_path: Path) -> None:
    log = tmp_path / "train_model.log"
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, check=True
    )
    assert res.stderr == "train_model: epoch 5/60: val score 0.6120\n"  # io is not echoed
    text = log.read_text()
    assert "epoch 5/60: val score 0.6120" in text and "read 3 files" in text
