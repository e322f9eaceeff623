#!/usr/bin/env bash
# transformer_guard.sh - the guard's transformer detectors end to end, on a
# small character transformer (the GPL-3 text):
#  - at a far too high rate (Adam 0.3, no warm-up) the attention logits grow
#    (Wortsman et al. 2023): unguarded, the largest head logit runs into the
#    hundreds; under the default guard, attention_logit_growth names a layer
#    and head, the leap is rolled back with that block's Q/K/V projection's
#    rate backed off, the logits stay under the bound, and the run is no
#    worse; with the rollback rules off (attn_logit_jump and
#    attn_logit_blowup 0), QK-clip answers every firing (the heads' largest
#    logit is back at the bound after every update);
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
"$G" train "$TR" -o "$T/clip" "${SMALL[@]}" "${HOT[@]}" --set guard.attn_logit_jump=0 --set guard.attn_logit_blowup=0 \
  >"$T/clip.log" 2>&1
check "[ -s '$T/hot-off/layers.csv' ] && [ -s '$T/hot/layers.csv' ] && [ -s '$T/clip/layers.csv' ]" \
  "the hot runs wrote layers.csv: $(tail -2 "$T/hot.log")"
# the largest head logit over the run (layers.csv: the attention rows' max_logit column)
maxlogit() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "max_logit") c = i; next }
                      c && $c != "" && $c + 0 > m { m = $c + 0 } END { printf "%g", m }' "$1"; }
off=$(maxlogit "$T/hot-off/layers.csv")
on=$(maxlogit "$T/hot/layers.csv")
clip=$(maxlogit "$T/clip/layers.csv")
check "awk 'BEGIN { exit !($off > 100) }'" "unguarded at lr 0.3 the attention logits grow past 100 (largest $off)"
ev=$(grep '"signal":"attention_logit_growth"' "$T/hot/events.jsonl" | head -1)
check "echo '$ev' | grep -q '\"action\":\"rollback\"' && echo '$ev' | grep -q 'attn[12]/attention head [0-3]' && echo '$ev' | grep -q 'the rate of attn[12].qkv x0.5'" \
  "the leap of attention_logit_growth names layer and head, rolls back and backs off that projection's rate: $ev"
# layers.csv is written after the update (and a rolled-back step is replayed)
check "awk 'BEGIN { exit !($on <= 100.001) }'" "guarded, the heads' largest logit after each update is at most the bound 100 ($on)"
ev=$(grep '"signal":"attention_logit_growth".*"action":"qk_clip"' "$T/clip/events.jsonl" | head -1)
check "echo '$ev' | grep -q '\"action\":\"qk_clip\"' && echo '$ev' | grep -q 'attn[12]/attention head [0-3]'" \
  "with the rollback rules off, QK-clip answers and names the layer and head: $ev"
n=$(grep -c '"signal":"attention_logit_growth"' "$T/clip/events.jsonl")
fired=$(grep -o '"attention": [0-9]*' "$T/clip/summary.json" | grep -o '[0-9]*$')
check "[ '${fired:-0}' -gt '$n' ] && [ '$n' -le 8 ]" \
  "QK-clip acts on many steps ($fired) with few events ($n): a continued firing is counted, not logged again"
check "awk 'BEGIN { exit !($clip <= 100.001) }'" "QK-clip: the heads' largest logit after each update is at most the bound 100 ($clip)"
check "grep -q '\"action\":\"backoff\".*the learning rate of attn[12].qkv' '$T/clip/events.jsonl'" \
  "QK-clip's firing backs off the projection's rate: $(grep '"action":"backoff"' "$T/clip/events.jsonl" | head -1 | cut -c1-240)"
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
check "[ -n '$ck' ] && grep -aq 'guard.hist.attention_logit_growth.ema.mean' '$ck' && grep -aq 'guard.memory.z_loss_on' '$ck' && grep -aq 'guard.memory.tensor_lr' '$ck'" \
  "the transformer detectors' state and the per-tensor rate factors are in the checkpoint by name"
finish transformer_guard
