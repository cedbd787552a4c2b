#!/usr/bin/env bash
# A Slurm array job: N shards of one `deepfake infer` run, one GPU each, over a shared file system; then merge.
#
#   sbatch --array=1-16 deploy/slurm-infer.sh /shared/dfdc/test_videos /shared/run1 /shared/models
#   # when every task has finished (or as a dependent job: sbatch --dependency=afterok:<jobid> ...):
#   deepfake merge /shared/run1/part-*.csv --reports /shared/run1/part-*.json \
#       --out /shared/run1/submission.csv --report /shared/run1/report.json
#
# Each task writes part-<K>.csv and part-<K>.json. A task that is requeued or rerun resumes from its own
# journal (.part-<K>.csv.journal), so finished videos are not scored twice.
#SBATCH --job-name=deepfake-infer
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.log
set -euo pipefail
videos="${1:?videos folder}"
out="${2:?output folder}"
models="${3:?model file or folder}"
: "${SLURM_ARRAY_TASK_ID:?run with sbatch --array=1-N}"
: "${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array=1-N}"
# --array=1-N counts tasks from 1; --shard takes K/N with K from 1 (or 0) to N.
k="$SLURM_ARRAY_TASK_ID"
n="$SLURM_ARRAY_TASK_COUNT"
mkdir -p "$out"
# DEEPFAKE (the binary) and DEEPFAKE_DEVICE_OVERRIDE (cpu, for tests/deploy.rs) are for testing off a cluster.
exec "${DEEPFAKE:-deepfake}" infer "$videos" --recursive --model "$models" \
  --device "${DEEPFAKE_DEVICE_OVERRIDE:-cuda}" --shard "$k/$n" \
  --out "$out/part-$k.csv" --report "$out/part-$k.json" --quiet
