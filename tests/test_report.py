"""`snakemake --report` on the tiny run: captions and categories, and figures rendered by Chromium.

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it); outside CI it is
skipped with a reason when the browser is missing, in CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from spectramind import cli

REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "tests" / "data" / "config_small.yaml"
CHROMIUM_TIMEOUT_S = 300
# Virtual time the page may use: 29 figures, each shown and polled every 20 ms until decoded.
VIRTUAL_TIME_BUDGET_MS = 200_000
CATEGORIES = {"Scores", "Accuracy", "Planets", "Calibration", "Model", "Runtime"}

# Injected before </body>: show every image result the way a click does (app.setView), wait
# for the <img> to decode, and record its natural size in <pre id="render-check">.
RENDER_CHECK = """
<script>
window.addEventListener("load", async () => {
  const out = {images: {}, errors: [], brand: document.body.innerText.slice(0, 2000)};
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  try {
    await sleep(200);
    out.brand = document.querySelector("#app").innerText.slice(0, 2000);
    for (const [path, entry] of Object.entries(results)) {
      if (!entry.mime_type.startsWith("image/")) continue;
      app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
      let img = null;
      for (let i = 0; i < 100 && !img; i++) {
        await sleep(20);
        img = Array.from(document.querySelectorAll("#app img")).find(
          (el) => el.getAttribute("src") === entry.data_uri) || null;
      }
      if (!img) { out.images[path] = {shown: false}; continue; }
      for (let i = 0; i < 200 && !(img.complete && img.naturalWidth > 0); i++) await sleep(20);
      out.images[path] = {shown: true, width: img.naturalWidth, height: img.naturalHeight};
    }
  } catch (e) { out.errors.push(String(e)); }
  const pre = document.createElement("pre");
  pre.id = "render-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def report_variable(html: str, name: str) -> dict:
    """A ``var NAME = {...};`` JSON object embedded in the report."""
    m = re.search(rf"var {name} = (\{{.*?\}});\n", html, flags=re.S)
    assert m, f"no {name} in the report"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def report(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the tiny run, written through `spectramind report`."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    rc = cli.main(
        [
            "report",
            str(out),
            "--snakefile",
            str(REPO / "Snakefile"),
            "-d",
            str(small_run),
            "--configfile",
            str(SMALL_CONFIG),
        ]
    )
    assert rc == 0 and out.is_file()
    return out


@pytest.mark.slow
def test_every_result_has_a_caption_and_a_category(report: Path, small_run: Path) -> None:
    html = report.read_text()
    results = report_variable(html, "results")
    categories = report_variable(html, "categories")
    assert set(categories) == CATEGORIES
    figures = {
        str(p.relative_to(small_run))
        for p in (small_run / "results" / "diagnostics").rglob("*.png")
    }
    assert figures <= set(results)  # every figure of the run is in the report
    assert (
        "results/scores/table.csv" in results and "results/diagnostics/score_table.html" in results
    )
    filed = {path for sub in categories.values() for paths in sub.values() for path in paths}
    assert filed == set(results)
    for path, entry in results.items():
        caption = entry["caption"]
        assert len(re.sub("<[^>]+>", "", caption).strip()) > 80, path
        assert "System Message" not in caption and "ERROR" not in caption, (path, caption)
        assert "{{" not in caption and "snakemake." not in caption, (
            path,
            caption,
        )  # Jinja rendered
    planet = next(p for p in results if p.endswith("/spectrum.png"))
    assert f"planet {planet.split('/')[2]}" in results[planet]["caption"]
    assert set(categories["Planets"]) == {
        p.split("/")[2] for p in figures if p.count("/") == 3 and p.split("/")[2].isdigit()
    }
    assert set(categories["Calibration"]) == set(categories["Planets"])
    assert set(categories["Model"]["Other"]) == {"results/diagnostics/training.png"}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is required in CI (.ci/run installs the Debian package 'chromium')")
    pytest.skip("chromium not installed (apt-get install chromium); required when CI=true")


@pytest.mark.slow
def test_figures_render_in_headless_chromium(report: Path, small_run: Path, tmp_path: Path) -> None:
    browser = chromium()
    html = report.read_text()
    end = html.rindex("</body>")
    page = tmp_path / "report_check.html"
    page.write_text(html[:end] + RENDER_CHECK + html[end:])
    res = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=False,
    )
    m = re.search(r'<pre id="render-check">(.*?)</pre>', res.stdout, flags=re.S)
    assert m, f"the page did not finish the check (rc {res.returncode}):\n{res.stderr[-3000:]}"
    check = json.loads(m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert check["errors"] == []
    figures = sorted((small_run / "results" / "diagnostics").rglob("*.png"))
    assert len(check["images"]) == len(figures) > 0
    for fig in figures:
        shown = check["images"][str(fig.relative_to(small_run))]
        assert shown["shown"], fig
        assert (shown["width"], shown["height"]) == png_size(fig), fig  # decoded at full size
    assert (
        "SpectraMind V50 turns raw Ariel" in check["brand"]
    )  # the main page's workflow description
