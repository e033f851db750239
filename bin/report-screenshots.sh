#!/usr/bin/env bash
# Screenshots of the HTML report with headless Chromium (Debian package `chromium`):
#   bash bin/report-screenshots.sh [REPORT [OUTDIR [FIGURE]]]
# writes OUTDIR/report_main.png (the report's main page) and OUTDIR/report_figure.png (the
# report showing one result, by default the first per-planet light-curve figure; FIGURE is a
# result path such as results/diagnostics/123/spectrum.png).
set -euo pipefail
report=${1:-results/report.html}
outdir=${2:-results/screenshots}
figure=${3:-}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $browser ]] || { echo "report-screenshots: error: chromium not found (apt-get install chromium)" >&2; exit 2; }
[[ -f $report ]] || { echo "report-screenshots: error: no report '$report' (snakemake --report $report)" >&2; exit 2; }
mkdir -p "$outdir"
report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
outdir=$(cd "$outdir" && pwd)
shoot() { "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,1000 \
    --virtual-time-budget=10000 --screenshot="$1" "$2" 2>/dev/null; }
shoot "$outdir/report_main.png" "file://$report"
# The same page with a script that opens one figure the way a click on it does.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
FIGURE=$figure python3 - "$report" "$tmp/figure.html" <<'PY'
import json, os, sys
html = open(sys.argv[1], encoding="utf-8").read()
want = json.dumps(os.environ.get("FIGURE", ""))
script = f"""<script>
window.addEventListener("load", () => setTimeout(() => {{
  const want = {want};
  const path = want || Object.keys(results).find((p) => p.endsWith("/light_curves.png"))
                    || Object.keys(results).find((p) => p.endsWith(".png"));
  app.setView({{navbarMode: "resultinfo", content: "img", contentPath: results[path].data_uri, resultPath: path}});
}}, 200));
</script>"""
end = html.rindex("</body>")
open(sys.argv[2], "w", encoding="utf-8").write(html[:end] + script + html[end:])
PY
shoot "$outdir/report_figure.png" "file://$tmp/figure.html"
echo "wrote $outdir/report_main.png and $outdir/report_figure.png" >&2
