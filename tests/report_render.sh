#!/usr/bin/env bash
# report_render.sh - the HTML report as a browser shows it: headless Chromium
# renders the sample run's report and a comparison; the screenshots must be
# real pictures (PNG, not a blank page) and the parsed DOM must still hold
# every chart and every guard-event marker. Skipped (exit 77) when Chromium is absent.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    echo "report_render: chromium is not installed (apt-get install chromium)"
    # make test installs it and sets GG_REQUIRE_PEERS: there its absence is a failure
    [ -n "${GG_REQUIRE_PEERS:-}" ] && exit 1
    exit 77
fi
build=${GG_BUILD:?GG_BUILD is not set (run through ctest)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# test_report writes its sample runs under $GG_BUILD/report-sample; a private
# GG_BUILD keeps this test apart from a test_report that ctest runs meanwhile.
GG_BUILD=$work "$build/tests/test_report" >"$work/test_report.log" 2>&1 || {
    cat "$work/test_report.log"
    echo "report_render: test_report failed"
    exit 1
}
sample=$work/report-sample

pass=0
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
    --disable-component-update --disable-sync)

render() { # render HTML PNG DOM
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --screenshot="$2" \
        --window-size=1280,2400 "file://$1" >"$work/shot.log" 2>&1 || true
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom "file://$1" \
        >"$3" 2>"$work/dom.log" || true
}

count() { grep -o -- "$1" "$2" | wc -l; }

for page in sample/report.html compare.html; do
    name=${page%%/*}
    name=${name%.html}
    png=$work/$name.png
    dom=$work/$name.dom.html
    render "$sample/$page" "$png" "$dom"
    check "$page: screenshot written" test -s "$png"
    [ -s "$png" ] || { cat "$work/shot.log"; continue; }
    check "$page: screenshot is a PNG" test "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
    size=$(stat -c %s "$png")
    check "$page: screenshot of $size bytes is not a blank page (> 20 KB)" test "$size" -gt 20480
    if [ "$name" = sample ]; then charts=6; else charts=4; fi
    check "$page: DOM has $charts charts (found $(count '<svg' "$dom"))" test "$(count '<svg' "$dom")" -eq "$charts"
    check "$page: DOM has 4 guard-event markers" test "$(count '<g class="ev">' "$dom")" -eq 4
    check "$page: DOM has axis labels" grep -q '>step</text>' "$dom"
done

echo "report_render: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
