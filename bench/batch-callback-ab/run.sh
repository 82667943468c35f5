#!/bin/bash
# A/B, interleaved at the invocation level: batch times on (every batch) / off, twice each, legacy image.
cd /work/wt-merge
for i in 1 2; do
  for g in 1 0; do
    python3 bench/timing_study.py \
      --image keras-matrix/cell:keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu:tensorflow,theano,cntk \
      --image keras-matrix/cell:keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu-r:jax \
      --epochs 6 --rounds 1 --reruns 1 --quota off --grains 1 --batch-group $g --data-dir /work/main/.cache/data \
      --resamples 200 --out /tmp/study/ab-$i-g$g.json > /dev/null 2>>/tmp/study/ab.log
    echo "done $i g$g rc=$? $(date -u +%T)" >> /tmp/study/ab.log
  done
done
