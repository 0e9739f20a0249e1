#!/bin/bash
# The default recipe at this stop's HEAD on the held-out sets (same splits as docs/records/heldout/heldout.sh).
B=/tmp/trajrnn_head
cd /work/ho
mkdir -p runs_now
for ds in open50nc clothnc pipernc open50 cloth piper; do
  [ -d ${ds}_dev ] || continue
  start=$(date +%s)
  $B train --dataset ${ds}_dev --run-dir runs_now/$ds --overwrite > runs_now/$ds.train.log 2>&1
  end=$(date +%s)
  $B eval --checkpoint runs_now/$ds/best.ckpt --dataset ${ds}_held --report runs_now/$ds.held.json > runs_now/$ds.eval.txt 2>&1
  echo "$ds train $((end-start)) s" >> runs_now/summary.txt
done
echo done >> runs_now/summary.txt
