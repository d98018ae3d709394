#!/usr/bin/env bash
# Opens a run report in headless Chromium as a reader would, takes a full-page screenshot, and
# checks that
#   * every <img> loaded (complete, naturalWidth > 0) and every plot is there as inline <svg>,
#   * no script error or failed resource load happened while the page loaded,
#   * the page asks for nothing outside itself: every src= and href= is a data: URI or a
#     #fragment, and there is no <script>, <link>, <iframe> or url(...) in it.
#
# Usage: scripts/check-report.sh [RUN_DIR | report.html] [SCREENSHOT.png]
#   With no run, trains a 2-epoch Fashion-MNIST run (build/vae) into a temporary folder first
#   and saves the screenshot as build/report-check.png; otherwise it defaults to report.png
#   beside the report.
# Exit status: 0 all good; 1 a check failed; 77 Chromium is not installed (a skip, for CTest).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null; then browser=$(command -v "$b"); break; fi
done
if [[ -z $browser ]]; then
  echo "check-report: no chromium found (Debian: apt-get install chromium)" >&2
  exit 77
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

target=${1:-}
shot=${2:-}
if [[ -z $target ]]; then
  [[ -x build/vae ]] || { echo "check-report: build/vae missing (run scripts/build.sh)" >&2; exit 1; }
  target=$scratch/run
  build/vae train --data fashion-mnist --epochs 2 --out "$target" >/dev/null
  shot=${shot:-build/report-check.png}  # the run folder goes away with $scratch
fi
if [[ -d $target ]]; then report=$target/report.html; else report=$target; fi
[[ -f $report ]] || { echo "check-report: $report does not exist" >&2; exit 1; }
report=$(realpath "$report")
shot=${shot:-$(dirname "$report")/report.png}

fail() { echo "check-report: $report: $*" >&2; exit 1; }

# 1. Self-contained: nothing but data: URIs and fragments.
external=$(grep -oE '(src|href)="[^"]*"' "$report" | grep -vE '^(src|href)="(data:|#)' || true)
[[ -z $external ]] || fail "refers to outside resources: $(echo "$external" | head -3 | tr '\n' ' ')"
if grep -qiE '<script|<link|<iframe|url\(' "$report"; then
  fail "holds <script>, <link>, <iframe> or url(...)"
fi

# 2. Load a copy with a probe in <head>: it records error events (scripts and failed loads,
# caught on the way down) and, once the page has loaded, writes one line into the DOM.
probe='<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__errors.push(t && t.tagName ? "failed to load " + t.tagName.toLowerCase() : String(e.message));
}, true);
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var line = "REPORT-CHECK images=" + imgs.length + " broken=" + broken.length +
      " svgs=" + document.querySelectorAll("svg").length + " errors=" + window.__errors.length +
      " height=" + Math.ceil(document.documentElement.scrollHeight) +
      " broken_alts=" + broken.map(function (i) { return i.alt; }).join(",") +
      " messages=" + window.__errors.join("|");
  var pre = document.createElement("pre");
  pre.id = "report-check";
  pre.textContent = line;
  document.body.appendChild(pre);
});
</script>'
awk -v probe="$probe" '{ print } /<head>/ && !done { print probe; done = 1 }' "$report" \
  >"$scratch/probe.html"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --host-resolver-rules="MAP * ~NOTFOUND" --hide-scrollbars)
"$browser" "${flags[@]}" --user-data-dir="$scratch/profile1" --virtual-time-budget=10000 \
  --dump-dom "file://$scratch/probe.html" >"$scratch/dom.html" 2>"$scratch/chromium.log" ||
  fail "chromium failed: $(tail -3 "$scratch/chromium.log")"
result=$(grep -o '<pre id="report-check">[^<]*' "$scratch/dom.html" | sed 's/^<pre[^>]*>//' || true)
[[ -n $result ]] || fail "the page never finished loading (no probe line in the DOM)"
echo "check-report: $result"

field() { sed -E "s/.* $1=([^ ]*).*/\1/" <<<"$result"; }
images=$(field images) broken=$(field broken) svgs=$(field svgs) errors=$(field errors)
height=$(field height)
# A report of a model of non-image data has plots but no pictures.
((svgs > 0)) || fail "no inline SVG plots"
((broken == 0)) || fail "$broken broken image(s): $(field broken_alts)"
((errors == 0)) || fail "$errors error(s) while loading: $(field messages)"

# 3. A screenshot of the whole page, 1200 pixels wide.
height=$((height < 800 ? 800 : height > 16000 ? 16000 : height))
"$browser" "${flags[@]}" --user-data-dir="$scratch/profile2" --virtual-time-budget=10000 \
  --window-size=1200,"$height" --screenshot="$shot" "file://$report" \
  >/dev/null 2>"$scratch/chromium.log" || fail "chromium failed: $(tail -3 "$scratch/chromium.log")"
[[ -s $shot ]] || fail "no screenshot written"
echo "check-report: ok: $images images, $svgs plots, no errors; screenshot $shot (1200x$height)"
