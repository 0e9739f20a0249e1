#!/bin/bash
# The trajrnn_v9b lines trained a build with a lag-rule base (not kept; docs/prediction-quality.md).
# Commands on the development sets: frozen recipe (v8) vs the follow base (v9b). Development numbers only.
cd /work/ds
mkdir -p final v9
run() { # bin outdir ds
  start=$(date +%s)
  $1 train --dataset ${3}_dev --run-dir $2/$3 --overwrite > $2/$3.train.log 2>&1
  end=$(date +%s)
  $1 eval --checkpoint $2/$3/best.ckpt --dataset ${3}_held --report $2/$3.held.json > $2/$3.eval.txt 2>&1
  echo "$3 train $((end-start)) s ($1)" >> $2/summary.txt
}
run /work/trajrnn_v8 final so101c
run /work/trajrnn_v8 final cr5c
run /work/trajrnn_v9b v9 cr5c
run /work/trajrnn_v8 final g1c
run /work/trajrnn_v9b v9 g1c
