#!/usr/bin/env bash
# report_render.sh - the HTML report as a browser shows it: headless Chromium
# renders the sample run's report and a comparison; the screenshots must be
# real pictures (PNG, not a blank page) and the parsed DOM must still hold
# every chart and every guard-event marker. The page's script is driven too:
# a copy of each page carries tests/report_harness.js after its own script,
# which clicks the log/linear toggle, moves the smoothing slider, picks the
# wall-time axis, drags a zoom and hides a run of the comparison, and
# writes what changed into the page for --dump-dom (no network, no extra
# tools). A short gauntlet case 2 run checks the learning-rate chart: the
# rate at the steps the guard rolled back (3 and 7 when this was written)
# and the rolled-back branches drawn faded. Skipped (exit 77) when Chromium
# is absent.
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

G=${GG_BIN:?GG_BIN is not set (run through ctest)}
SRC=${GG_SRC:?GG_SRC is not set (run through ctest)}

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
    --disable-component-update --disable-sync)

render() { # render HTML PNG DOM
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --screenshot="$2" \
        --window-size=1280,2400 "file://$1" >"$work/shot.log" 2>&1 || true
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom "file://$1" \
        >"$3" 2>"$work/dom.log" || true
}

# occurrences in the page's markup, the text of its scripts left out
count() { perl -0pe 's/<script[^>]*>.*?<\/script>//gs' "$2" | grep -o -- "$1" | wc -l; }

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
    # the gradient norm's 4 events, and on the learning rate the rollback and the back-off
    check "$page: DOM has 6 guard-event markers (found $(count '<g class="ev">' "$dom"))" \
        test "$(count '<g class="ev">' "$dom")" -eq 6
    check "$page: DOM has axis labels" grep -q '>step</text>' "$dom"
done

# --- the page's script, driven by tests/report_harness.js in a copy of the page ---
drive() { # drive HTML DOM
    awk -v h="$SRC/tests/report_harness.js" \
        '/<\/body>/ { print "<script>"; while ((getline l < h) > 0) print l; print "</script>" } { print }' \
        "$1" >"$1.driven.html"
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom "file://$1.driven.html" \
        >"$2" 2>"$work/dom.log" || true
}
for page in sample/report.html compare.html; do
    dom=$work/${page%%/*}.driven.dom
    drive "$sample/$page" "$dom"
    results=$(perl -0pe 's/<script[^>]*>.*?<\/script>//gs' "$dom" | sed -n '/<pre id="gg-test">/,/<\/pre>/p' |
        sed 's/<[^>]*>//g')
    check "$page: the harness ran" test -n "$results"
    while IFS= read -r line; do
        [ -z "$line" ] && continue
        check "$page: ${line#* }" test "${line%% *}" = PASS
    done <<<"$results"
    if [ "$page" = compare.html ]; then
        check "$page: the run toggle was tried" grep -q 'PASS unticking a run' <<<"$results"
    fi
done

# --- gauntlet case 2: the rate where the guard changed it, the branches it rolled back ---
if "$G" train "$SRC/configs/gauntlet/2-mlp-sgd-lr.yaml" -o "$work/g2" --set train.max_steps=150 \
    --set train.threads=1 --set train.checkpoint_every=0 --quiet >"$work/g2.log" 2>&1; then
    dom=$work/g2.dom
    timeout 180 chromium "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom \
        "file://$work/g2/report.html" >"$dom" 2>"$work/dom.log" || true
    # the learning-rate chart as the page's script drew it
    awk '/aria-label="Learning rate"/ { on = 1 } on { print } on && /<\/svg>/ { exit }' "$dom" >"$work/g2.lr"
    check "case 2: the learning-rate chart is in the DOM" test -s "$work/g2.lr"
    steps=$(grep '"action":"rollback"' "$work/g2/events.jsonl" | sed 's/.*"step":\([0-9]*\),.*/\1/' | tr '\n' ' ')
    check "case 2: the guard rolled back (at steps: ${steps:-none}; 13 and 22 when this was written)" test -n "$steps"
    for s in $steps; do
        check "case 2: the rate at step $s, where the guard rolled back and backed off" \
            grep -q "<title>rolled back here — step $s: " "$work/g2.lr"
        check "case 2: the rollback's marker at step $s on the rate chart" \
            grep -q "<g class=\"ev\"><title>step $s, epoch 1" "$work/g2.lr"
    done
    check "case 2: the new rate where training went on" grep -q "<title>new rate — step [0-9]*: " "$work/g2.lr"
    check "case 2: rolled-back branches drawn faded" grep -q 'class="ln" [^>]*stroke-opacity="0.35"' "$work/g2.lr"
    check "case 2: the faded branches have a legend entry" grep -q '>rolled back (discarded branch)<' "$work/g2.lr"
    check "case 2: the guard's card counts its skips" grep -Eq '[0-9]+ skip' "$dom"
else
    check "case 2: the run failed: $(tail -3 "$work/g2.log")" false
fi

echo "report_render: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
