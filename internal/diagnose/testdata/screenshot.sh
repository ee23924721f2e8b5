#!/bin/sh
# Render an `apimgw diagnose --format html` report with headless Chromium and
# save a PNG, to look at what an operator sees.
#   usage: screenshot.sh REPORT.html OUT.png
set -eu
report=$(realpath "$1")
out=$(realpath -m "$2")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --screenshot="$out" --window-size=1200,1600 "file://$report"
