#!/usr/bin/env bash
# progress_tty.sh - the progress line as a person sees it: a run in an
# 80-column tmux pane must leave exactly one progress line (not a stack of
# wrapped or stale ones) that fits the pane, also with guard events printed
# between redraws (gauntlet case 2 skips its first blow-ups and rolls back twice near its start), and must
# redraw between log rows (train.log_every larger than the run; the run is
# about 2.5 s, five redraws at 500 ms: at 1.2 s an idle fast machine showed
# one). The run stops mid-epoch (train.max_steps), where the last progress line stays;
# at an epoch's end the epoch's summary line takes its place. Skipped
# (exit 77) without tmux, a failure under `make test`.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"
command -v tmux >/dev/null 2>&1 || skip_peer "progress_tty: tmux is not installed (apt-get install tmux)"

sock=gg-progress-$$
tm() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'tm kill-server >/dev/null 2>&1; rm -rf "$T"' EXIT

# the pane's shell runs the command, then says it is done and waits to be read
cmd="'$G' train '$SRC/configs/gauntlet/2-mlp-sgd-lr.yaml' -o '$T/run' --set train.epochs=4 --set train.threads=1 \
--set train.max_steps=1500 --set train.log_every=100000 --set train.checkpoint_every=0; echo GG-DONE rc=\$?; sleep 600"
tm new-session -d -x 80 -y 60 -s p "bash --norc --noprofile -c \"$cmd\"" || { bad "tmux cannot start a session"; echo "progress_tty: widest progress line $widest columns; $distinct different lines before the end in $n captures"
finish progress_tty; exit; }
check "[ \"\$(tm display-message -p -t p '#{pane_width}')\" = 80 ]" "the pane is 80 columns wide"

progress_re='^epoch [0-9]+/[0-9]+ '
n=0 live=() most=0 widest=0
for _ in $(seq 1 1200); do # 0.25 s apart: at most 5 minutes
  n=$((n + 1))
  # -J joins wrapped rows: a line that wrapped shows up longer than the pane
  tm capture-pane -p -J -t p >"$T/cap" 2>/dev/null || break
  k=$(grep -cE "$progress_re" "$T/cap")
  [ "$k" -gt "$most" ] && most=$k
  w=$(grep -E "$progress_re" "$T/cap" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
  [ "$w" -gt "$widest" ] && widest=$w
  if grep -q '^GG-DONE' "$T/cap"; then break; fi
  # a progress line before the end: drawn between log rows
  line=$(grep -E "$progress_re" "$T/cap" | grep -v ' 100%' | tail -1)
  [ -n "$line" ] && live+=("$line")
  sleep 0.25
done
cp "$T/cap" "$T/final"
check "grep -q '^GG-DONE rc=0' '$T/final'" "the run completed in the pane: $(tail -5 "$T/final")"
check "[ \$(grep -cE '$progress_re' '$T/final') -eq 1 ]" \
  "one progress line at the end, found $(grep -cE "$progress_re" "$T/final"):
$(cat "$T/final")"
check "[ '$most' -eq 1 ]" "one progress line at any time (at most $most seen)"
check "[ '$widest' -gt 40 ] && [ '$widest' -le 79 ]" "the progress line fits in 79 columns (widest $widest)"
check "grep -qE '$progress_re.*100%.*eta' '$T/final'" "the final progress line has the bar's 100% and the eta"
check "grep -q '^guard: step [0-9]*: .*rollback' '$T/final'" "the guard's lines are printed between redraws"
check "grep -qE '^epoch 1/4: loss .* epoch_time [0-9]+:[0-9]+' '$T/final'" "the epoch line gives its time"
distinct=$(printf '%s\n' "${live[@]:-}" | grep -v '^$' | sort -u | wc -l)
check "[ '$distinct' -ge 2 ]" \
  "the line is redrawn between log rows (log_every 100000): $distinct different lines in $n captures"
echo "progress_tty: widest progress line $widest columns; $distinct different lines before the end in $n captures"
finish progress_tty
