#!/bin/bash
# The frozen recipe (trajrnn_v8, defaults) on the development sets, for the docs (development numbers).
B=/work/trajrnn_v8
cd /work/ds
mkdir -p /work/ds/final
for ds in g1 cr5 so101 g1c so101c cr5c; do
  start=$(date +%s)
  $B train --dataset ${ds}_dev --run-dir final/$ds --overwrite > final/$ds.train.log 2>&1
  end=$(date +%s)
  $B eval --checkpoint final/$ds/best.ckpt --dataset ${ds}_held --report final/$ds.held.json > final/$ds.eval.txt 2>&1
  echo "$ds train $((end-start)) s" >> final/summary.txt
done
