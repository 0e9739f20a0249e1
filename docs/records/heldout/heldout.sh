#!/bin/bash
# The frozen recipe (trajrnn_v8 = commit 155eca1, defaults, no flags) on the held-out sets:
# train on the first 80 % of the episodes (X_dev), score on the rest (X_held) with eval.
B=/work/trajrnn_v8
cd /work/ho
mkdir -p runs
for ds in open50nc clothnc pipernc open50 cloth piper; do
  [ -d ${ds}_dev ] || continue
  start=$(date +%s)
  /usr/bin/time -v $B train --dataset ${ds}_dev --run-dir runs/$ds --overwrite > runs/$ds.train.log 2> runs/$ds.time.log
  end=$(date +%s)
  $B eval --checkpoint runs/$ds/best.ckpt --dataset ${ds}_held --report runs/$ds.held.json > runs/$ds.eval.txt 2>&1
  echo "$ds train $((end-start)) s" >> runs/summary.txt
done
