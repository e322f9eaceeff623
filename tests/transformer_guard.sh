#!/usr/bin/env bash
# transformer_guard.sh - the guard's transformer detectors end to end, on a
# small character transformer (the GPL-3 text):
#  - at a far too high rate (Adam 0.3, no warm-up) the attention logits grow
#    (Wortsman et al. 2023): unguarded, the largest head logit runs into the
#    hundreds; under the default guard, attention_logit_growth names a layer
#    and head, QK-clip answers it (the heads' largest logit is back at the
#    bound after every update), and the run is no worse;
#  - at a good rate (1e-3) the default guard does nothing: no event and the
#    same losses as the run without it, to the last digit;
#  - the detectors' state is in the checkpoint, by name.
# Environment: GG_SRC, GG_BIN.
set -u
G=${GG_BIN:?}
SRC=${GG_SRC:?}
. "$(dirname "$0")/common.bash"

TR=$SRC/configs/char-transformer.yaml
SMALL=(--set model.0.dim=32 --set data.length=32 --set data.stride=32 --set train.batch=8 --set train.epochs=1
       --set train.max_steps=60 --set guard.layer_every=5 --set train.log_every=5 --set train.threads=1
       --set 'regularize.early_stopping.patience=0' --quiet)
HOT=(--set optimizer.lr=0.3 --set schedule.warmup_steps=0)

"$G" train "$TR" -o "$T/hot-off" "${SMALL[@]}" "${HOT[@]}" --set guard.enabled=false >"$T/hot-off.log" 2>&1
"$G" train "$TR" -o "$T/hot" "${SMALL[@]}" "${HOT[@]}" >"$T/hot.log" 2>&1
check "[ -s '$T/hot-off/layers.csv' ] && [ -s '$T/hot/layers.csv' ]" "both hot runs wrote layers.csv: $(tail -2 "$T/hot.log")"
# the largest head logit over the run (layers.csv: the attention rows' max_logit column)
maxlogit() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "max_logit") c = i; next }
                      c && $c != "" && $c + 0 > m { m = $c + 0 } END { printf "%g", m }' "$1"; }
off=$(maxlogit "$T/hot-off/layers.csv")
on=$(maxlogit "$T/hot/layers.csv")
check "awk 'BEGIN { exit !($off > 100) }'" "unguarded at lr 0.3 the attention logits grow past 100 (largest $off)"
ev=$(grep '"signal":"attention_logit_growth"' "$T/hot/events.jsonl" | head -1)
check "echo '$ev' | grep -q '\"action\":\"qk_clip\"' && echo '$ev' | grep -q 'attn[12]/attention head [0-3]'" \
  "attention_logit_growth, answered by QK-clip, names the layer and head: $ev"
n=$(grep -c '"signal":"attention_logit_growth"' "$T/hot/events.jsonl")
fired=$(grep -o '"attention": [0-9]*' "$T/hot/summary.json" | grep -o '[0-9]*$')
check "[ '${fired:-0}' -gt '$n' ] && [ '$n' -le 5 ]" \
  "QK-clip acts on many steps ($fired) with few events ($n): a continued firing is counted, not logged again"
# layers.csv is written after the update: the heads as QK-clip left them
check "awk 'BEGIN { exit !($on <= 50.001) }'" "guarded, the heads' largest logit after each update is at most the bound 50 ($on)"
last() { awk -F, '$1 == "step" { l = $4 } END { print l }' "$1"; }
check "awk 'BEGIN { exit !($(last "$T/hot/metrics.csv") <= $(last "$T/hot-off/metrics.csv") + 0.05) }'" \
  "the guarded run ends no worse: loss $(last "$T/hot/metrics.csv") against $(last "$T/hot-off/metrics.csv") unguarded"

# a healthy rate: the guard does nothing
"$G" train "$TR" -o "$T/ok-off" "${SMALL[@]}" --set guard.enabled=false >/dev/null 2>&1
"$G" train "$TR" -o "$T/ok" "${SMALL[@]}" --set train.checkpoint_every=30 >/dev/null 2>&1
check "! grep -q '\"type\":\"guard\"' '$T/ok/events.jsonl'" "a healthy run: no guard event ($(grep -c '"type":"guard"' "$T/ok/events.jsonl"))"
check "[ \"\$(cut -d, -f1-5 '$T/ok/metrics.csv')\" = \"\$(cut -d, -f1-5 '$T/ok-off/metrics.csv')\" ]" \
  "a healthy run's losses are the unguarded run's to the last digit"
ck=$(ls "$T"/ok/checkpoints/ckpt-*.safetensors 2>/dev/null | tail -1)
check "[ -n '$ck' ] && grep -aq 'guard.hist.attention_logit_growth.ema.mean' '$ck' && grep -aq 'guard.memory.z_loss_on' '$ck'" \
  "the transformer detectors' state is in the checkpoint by name"
finish transformer_guard
