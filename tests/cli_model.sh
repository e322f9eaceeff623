#!/usr/bin/env bash
# The command's views of a model, on small CSV data sets made here and a
# few Fashion-MNIST steps:
#  - train prints the model summary (layer, type, output shape, parameters,
#    the total) before the first step, and not with --quiet;
#  - train.init_from: a run started from another run's weights at learning
#    rate 0 has that run's test accuracy; a wrong shape names the tensor and
#    both shapes, a missing tensor and a missing file are named; eval,
#    predict and prune of such a run do not need the file any more;
#  - predict writes one row per sample: class and probabilities (which sum
#    to 1) for a classifier, with the label column when the CSV has it and
#    without it when not; values for regression; refuses a file with
#    another feature count, naming both;
#  - eval prints the confusion matrix, its counts summing to the test set
#    and its diagonal giving the printed accuracy.
set -u
SRC=${GG_SRC:?}
B=${GG_BUILD:?}
G=${GG_BIN:-$B/gradguard}
. "$(dirname "$0")/common.bash"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# three classes of 4 features: class k has feature k (mod 4) large
awk 'BEGIN { srand(3); print "f0,f1,f2,f3,label";
  for (i = 0; i < 600; i++) { k = i % 3; s = "";
    for (j = 0; j < 4; j++) s = s (j ? "," : "") sprintf("%.4f", rand() + (j == k ? 2 : 0));
    print s "," k } }' >"$T/cls.csv"
head -61 "$T/cls.csv" >"$T/cls_test.csv"
cut -d, -f1-4 "$T/cls_test.csv" >"$T/cls_nolabel.csv"
cut -d, -f1-3 "$T/cls_test.csv" >"$T/cls_3col.csv"
# regression: y = f0 + 2 f1
awk 'BEGIN { srand(5); print "f0,f1,y";
  for (i = 0; i < 400; i++) { a = rand(); b = rand(); printf "%.4f,%.4f,%.4f\n", a, b, a + 2 * b } }' >"$T/reg.csv"
cat >"$T/cls.yaml" <<YAML
data: {format: csv, train: $T/cls.csv, test: $T/cls_test.csv, label: label, normalize: none, val_fraction: 0}
model:
  - {type: dense, units: 16, act: relu}
  - {type: dense}
loss: {name: softmax_xent}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 3, batch: 32, seed: 1, threads: 1}
YAML
cat >"$T/reg.yaml" <<YAML
data: {format: csv, train: $T/reg.csv, test: none, label: y, normalize: none, val_fraction: 0}
model:
  - {type: dense, units: 8, act: tanh}
  - {type: dense}
loss: {name: mse}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 20, batch: 32, seed: 1, threads: 1}
YAML

# --- the summary ---
"$G" train "$T/cls.yaml" -o "$T/cls" >"$T/train.txt" 2>&1
check "[ $? -eq 0 ]" "train cls.yaml: $(cat "$T/train.txt")"
check "grep -q '^layer  *type  *output shape  *parameters\$' '$T/train.txt'" "the summary's header: $(head -3 "$T/train.txt")"
check "grep -q '^input  *input  *(N, 4)  *0\$' '$T/train.txt'" "the input row"
check "grep -q '^fc1  *dense  *(N, 16)  *80\$' '$T/train.txt'" "fc1: (N, 16), 4 x 16 + 16 = 80 parameters"
check "grep -q '^fc2  *dense  *(N, 3)  *51\$' '$T/train.txt'" "fc2: (N, 3), 16 x 3 + 3 = 51 parameters"
check "grep -q '^parameters: 131 in 4 tensors' '$T/train.txt'" "the total"
check "[ \$(grep -n '^layer ' '$T/train.txt' | cut -d: -f1) -lt \$(grep -n '^epoch 1/3' '$T/train.txt' | cut -d: -f1) ]" \
  "the summary comes before the first epoch"
expect 0 "^conv2  *conv2d  *(N, 64, 14, 14)  *51,264\$" "$G" train "$SRC/configs/fashion-cnn.yaml" -o "$T/cnn" --set train.max_steps=1 \
  --set data.limit_train=200 --set data.limit_test=50 --set train.threads=1
"$G" train "$T/cls.yaml" -o "$T/q" --quiet >"$T/quiet.txt" 2>&1
check "! grep -q '^layer ' '$T/quiet.txt' && [ \$(wc -l <'$T/quiet.txt') -eq 1 ]" "--quiet prints no summary"

# --- eval's confusion matrix ---
"$G" eval "$T/cls" >"$T/eval.txt" 2>&1
check "[ $? -eq 0 ]" "eval: $(cat "$T/eval.txt")"
check "grep -q '^confusion matrix (test set; rows: true class, columns: predicted)' '$T/eval.txt'" "eval prints the matrix"
acc=$(sed -n 's/.*test accuracy \([0-9.]*\)$/\1/p' "$T/eval.txt")
read -r total diag < <(awk '/^confusion matrix/ { on = 1; getline; next }
  on && NF == 5 { for (c = 2; c <= 4; c++) { t += $c; if (c - 2 == $1) d += $c } } END { print t, d }' "$T/eval.txt")
check "[ '$total' = 60 ]" "the matrix counts the 60 test samples (got $total)"
check "[ \"\$(awk -v d=$diag 'BEGIN { printf \"%.4f\", d / 60 }')\" = '$acc' ]" \
  "its diagonal is the accuracy $acc (diagonal $diag)"
"$G" eval "$T/reg" >/dev/null 2>&1 # no run yet: fails
"$G" train "$T/reg.yaml" -o "$T/reg" --quiet >/dev/null 2>&1
expect 0 "completed" "$G" train "$T/reg.yaml" -o "$T/reg" --overwrite --quiet
check "! \"$G\" eval '$T/reg' --set 'data.test=$T/reg.csv' 2>&1 | grep -q confusion" "no matrix for regression"

# --- predict ---
expect 0 "wrote $T/p.csv: 60 predictions" "$G" predict "$T/cls" --data "$T/cls_test.csv" -o "$T/p.csv"
check "[ \"\$(head -1 '$T/p.csv')\" = 'index,label,class,p0,p1,p2' ] && [ \$(wc -l <'$T/p.csv') -eq 61 ]" \
  "classifier CSV with labels: $(head -2 "$T/p.csv" | tr '\n' ' ')"
check "awk -F, 'NR > 1 { s = \$4 + \$5 + \$6; if (s < 0.9999 || s > 1.0001) exit 1;
  m = 0; for (c = 1; c <= 2; c++) if (\$(4 + c) > \$(4 + m)) m = c; if (m != \$3) exit 1 }' '$T/p.csv'" \
  "each row's probabilities sum to 1 and class is their arg-max"
right=$(awk -F, 'NR > 1 && $2 == $3 { n++ } END { print n + 0 }' "$T/p.csv")
check "[ \"\$(awk -v d=$right 'BEGIN { printf \"%.4f\", d / 60 }')\" = '$acc' ]" "predict's classes give eval's accuracy ($right of 60)"
expect 0 "60 predictions" "$G" predict "$T/cls" --data "$T/cls_nolabel.csv" -o "$T/p2.csv"
check "[ \"\$(head -1 '$T/p2.csv')\" = 'index,class,p0,p1,p2' ] && cmp -s <(cut -d, -f1,3- '$T/p.csv' | tail -n +2) <(tail -n +2 '$T/p2.csv')" \
  "without the label column: the same predictions, no label column"
expect 1 "cls_3col.csv has 3 features per sample, the model takes 4" "$G" predict "$T/cls" --data "$T/cls_3col.csv" -o "$T/p3.csv"
check "[ ! -e '$T/p3.csv' ]" "no file written on an error"
expect 0 "400 predictions from .* (values)" "$G" predict "$T/reg" --data "$T/reg.csv" -o "$T/r.csv"
check "[ \"\$(head -1 '$T/r.csv')\" = 'index,target,value' ] && [ \$(wc -l <'$T/r.csv') -eq 401 ]" "regression CSV: index,target,value"
mse=$(awk -F, 'NR > 1 { d = $3 - $2; e += d * d; n++ } END { printf "%.4f", e / n }' "$T/r.csv")
check "awk 'BEGIN { exit !($mse < 0.05) }'" "regression predictions are near the targets (mean squared error $mse < 0.05)"
expect 2 "usage: gradguard predict" "$G" predict "$T/cls" -o "$T/x.csv"
expect 0 "usage: gradguard predict" "$G" help predict

# --- train.init_from ---
cls_acc=$acc
expect 0 "test accuracy $cls_acc" "$G" train "$T/cls.yaml" -o "$T/init" --quiet --set optimizer.lr=0 \
  --set train.max_steps=1 --set train.init_from="$T/cls/model.safetensors"
expect 0 "test accuracy" "$G" train "$T/cls.yaml" -o "$T/fresh" --quiet --set optimizer.lr=0 --set train.max_steps=1
check "! grep -q 'test accuracy $cls_acc' <(\"$G\" eval '$T/fresh')" "without init_from the same run starts elsewhere"
expect 1 "^gradguard: --set: train.init_from: .*cls/model.safetensors: tensor 'fc1.weight' has shape (16, 4), the model's 'fc1.weight' is (32, 4)" \
  "$G" train "$T/cls.yaml" -o "$T/x" --set model.0.units=32 --set train.init_from="$T/cls/model.safetensors"
sed "s|train: {|train: {init_from: $T/cls/model.safetensors, |" "$T/cls.yaml" >"$T/cls_init.yaml"
expect 1 "cls_init.yaml:7: train.init_from: .*tensor 'fc1.weight' has shape (16, 4), the model's 'fc1.weight' is (32, 4)" \
  "$G" train "$T/cls_init.yaml" -o "$T/x" --set model.0.units=32
expect 1 "train.init_from: .*reg/model.safetensors: .*tensor 'fc1.weight' has shape (8, 2), the model's 'fc1.weight' is (16, 4)" \
  "$G" train "$T/cls.yaml" -o "$T/x" --set train.init_from="$T/reg/model.safetensors"
expect 1 "train.init_from: cannot open '$T/none.safetensors'" "$G" train "$T/cls.yaml" -o "$T/x" \
  --set train.init_from="$T/none.safetensors"
check "grep -q 'init_from: $T/cls/model.safetensors' '$T/init/config.yaml'" "the run's config keeps init_from"
# the weights of a finished run are its own: the starting file may go
cp "$T/cls/model.safetensors" "$T/start.safetensors"
expect 0 "completed" "$G" train "$T/cls.yaml" -o "$T/init2" --quiet --set train.init_from="$T/start.safetensors"
rm "$T/start.safetensors"
expect 0 "test accuracy" "$G" eval "$T/init2"
expect 0 "60 predictions" "$G" predict "$T/init2" --data "$T/cls_test.csv" -o "$T/p4.csv"

finish cli_model
