#!/usr/bin/env bash
# Prove the GPU path on a real GPU (issue 13), in one run that fits a few minutes of GPU time:
#   1. nvidia-smi -L, Python, torch, CUDA and cuDNN versions
#   2. benchmarks/train_throughput.py --device cuda and --device cpu: samples/s and their ratio
#   3. the default run config trained twice with one seed on CUDA (`snakesweep train`):
#      metrics.json (less timing and wandb) and model.onnx compared, every difference printed
#   4. the default pipeline with agents.device: cuda, then with agents.per_gpu: 2: the device
#      and GPU slot each agent took (results/sweep/agents/*.json and its log)
#   5. the full-MNIST sweep (configs/full-mnist.yaml, data.source: local): test accuracy and
#      seconds per trial (goal: >= 99.0% in < 5 s)
#
# Usage:
#   benchmarks/gpu_check.sh [--mnist DIR] [--keep] > benchmarks/results/gpu-check.txt
#   benchmarks/gpu_check.sh --cpu-only      # the same steps on the CPU at tiny size: a smoke test
#
# --mnist DIR names the folder with MNIST's four IDX files for step 5 (default: $MNIST_DIR, else
# ../shared/data/mnist or benchmarks/out/mnist when present, else the bundled 5,000-digit sample,
# which the output then says). --keep leaves the scratch folder for inspection.
#
# Everything runs in a scratch copy of this working tree (without .git, .venv, results,
# resources, .snakemake), importing the copy's src/, so the user's checkout is never written to.
# The Python is $PYTHON, else .venv/bin/python, else python3; it needs the project's dependencies
# (step 0 lists any that are missing) but not an installed snakesweep. A failed step does not
# stop the others, since GPU time is scarce; the exit status is 1 if any step failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CPU_ONLY=0
KEEP=0
MNIST=${MNIST_DIR:-}

while (($#)); do
    case $1 in
        --cpu-only) CPU_ONLY=1 ;;
        --keep) KEEP=1 ;;
        --mnist) MNIST=${2:?--mnist needs a folder}; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $REPO/.venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi
PYTHON=$(command -v "$PYTHON") || { echo "gpu_check.sh: no Python at ${PYTHON}" >&2; exit 2; }
CORES=$(nproc)
if ((CPU_ONLY)); then DEVICE=cpu; else DEVICE=cuda; fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
cleanup() { if ((KEEP)); then echo "scratch folder kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT

TREE=$SCRATCH/tree
mkdir -p "$TREE"
# The working tree as it is (uncommitted edits included), less what a run writes or builds.
tar -C "$REPO" -cf - --exclude=./.git --exclude=./.venv --exclude=./results --exclude=./resources \
    --exclude=./.snakemake --exclude=./benchmarks/out --exclude=__pycache__ --exclude='*.egg-info' \
    --exclude=./.pytest_cache --exclude=./wandb . | tar -C "$TREE" -xf -
export PYTHONPATH=$TREE/src${PYTHONPATH:+:$PYTHONPATH}
PATH=$(dirname "$PYTHON"):$PATH  # snakemake's `script:` jobs and `snakesweep` use this Python
export PATH
HELPER=$TREE/benchmarks/gpu_check.py

helper() { "$PYTHON" "$HELPER" "$@"; }

# A fresh copy of the tree to run one pipeline in, with `overrides` (YAML text) as gpu-check.yaml.
workdir() {
    local name=$1 overrides=$2
    cp -a "$TREE" "$SCRATCH/$name"
    printf '%s\n' "$overrides" > "$SCRATCH/$name/gpu-check.yaml"
    ((CPU_ONLY)) && tiny_sweep "$SCRATCH/$name" "0.001, 0.003"
    echo "$SCRATCH/$name"
}

# snakemake in `dir` with its configfiles; the full output goes to dir/snakemake.out, and the
# console gets snakesweep's closing summary, or the output's tail if it failed.
pipeline() {
    local dir=$1; shift
    echo "\$ snakemake --cores $CORES --configfile $*"
    sed 's/^/  gpu-check.yaml: /' "$dir/gpu-check.yaml"
    if (cd "$dir" && "$PYTHON" -m snakemake --cores "$CORES" --configfile "$@" >snakemake.out 2>&1); then
        sed -n '/^snakesweep: sweep/,$p' "$dir/snakemake.out"
    else
        echo "snakemake failed; the last lines of its output:"
        tail -n 40 "$dir/snakemake.out"
        return 1
    fi
}

# For --cpu-only: dir/gpu-check-sweep.yaml, a grid of 1-epoch runs, one per learning rate
# (every --cpu-only copy gets two; config files name it as $TINY_SWEEP).
tiny_sweep() {
    local dir=$1 rates=$2
    printf 'method: grid\nmetric: {name: val_accuracy, goal: maximize}\nparameters:\n  epochs: {value: 1}\n  learning_rate: {values: [%s]}\n' \
        "$rates" > "$dir/gpu-check-sweep.yaml"
}

step0_preflight() {
    echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n), $CORES CPUs, $( ((CPU_ONLY)) && echo '--cpu-only' || echo 'GPU run')"
    echo "tree: $REPO at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no git') $(git -C "$REPO" status --porcelain 2>/dev/null | grep -q . && echo '(with uncommitted changes)')"
    helper preflight
}

step1_versions() {
    if command -v nvidia-smi >/dev/null; then nvidia-smi -L; else echo "nvidia-smi: not found"; fi
    helper versions || return 1
    if ((!CPU_ONLY)) && ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
        echo "torch sees no CUDA GPU here: run with --cpu-only, or fix the driver/torch build"
        return 1
    fi
}

# The snakesweep trainer's median samples/s from train_throughput.py's output.
trainer_rate() { sed -n 's/^(b) snakesweep trainer.*median \([0-9.]*\) samples\/s.*/\1/p' "$1"; }

step2_throughput() {
    local args=(--threads "$CORES" --skip-overhead) devices=(cpu)
    if ((CPU_ONLY)); then args+=(--epochs 1 --repeat 1); else args+=(--repeat 3); devices=(cuda cpu); fi
    local device
    for device in "${devices[@]}"; do
        echo "\$ python benchmarks/train_throughput.py --device $device ${args[*]}"
        "$PYTHON" "$TREE/benchmarks/train_throughput.py" --device "$device" "${args[@]}" | tee "$SCRATCH/throughput-$device.txt" \
            || return 1
    done
    if ((CPU_ONLY)); then
        echo "GPU/CPU ratio: not measured (--cpu-only); CPU trainer $(trainer_rate "$SCRATCH/throughput-cpu.txt") samples/s"
    else
        local gpu cpu
        gpu=$(trainer_rate "$SCRATCH/throughput-cuda.txt") cpu=$(trainer_rate "$SCRATCH/throughput-cpu.txt")
        [[ -n $gpu && -n $cpu ]] || { echo "no '(b) snakesweep trainer ... median N samples/s' line to read"; return 1; }
        echo "GPU/CPU ratio (snakesweep trainer, medians): $gpu / $cpu samples/s = $(awk -v g="$gpu" -v c="$cpu" 'BEGIN { printf "%.1fx", g / c }')"
    fi
}

# One `snakesweep train` of run-config.yaml into $SCRATCH/run-NAME; its output goes to run-NAME.out.
train_once() {
    local name=$1 dataset=$2 manifest=$3
    "$PYTHON" -m snakesweep.cli train --config "$SCRATCH/run-config.yaml" --data "$dataset" --manifest "$manifest" \
        --out "$SCRATCH/run-$name" --seed 0 --device "$DEVICE" --threads 1 >"$SCRATCH/run-$name.out" 2>&1 \
        || { tail -n 20 "$SCRATCH/run-$name.out"; return 1; }
}

step3_determinism() {
    local target manifest
    target=$(helper path DATASET) manifest=$(helper path MANIFEST)
    echo "\$ snakemake --cores $CORES $target --configfile gpu-check.yaml   # the data stage of step 4's pipeline"
    (cd "$DEFAULT" && "$PYTHON" -m snakemake --cores "$CORES" "$target" --configfile gpu-check.yaml >data.out 2>&1) \
        || { tail -n 40 "$DEFAULT/data.out"; return 1; }
    if ((CPU_ONLY)); then echo "epochs: 1" > "$SCRATCH/run-config.yaml"; else echo "{}" > "$SCRATCH/run-config.yaml"; fi
    echo "run config: $(<"$SCRATCH/run-config.yaml") (the rest from workflow/schemas/run.schema.yaml), bundled data, seed 0, 1 thread"
    # Both at once: the same seed must give the same bytes whatever else shares the device.
    echo "\$ snakesweep train --config run-config.yaml --data $target --out run-a|run-b --seed 0 --device $DEVICE --threads 1  # a, b in parallel"
    train_once a "$DEFAULT/$target" "$DEFAULT/$manifest" & local first=$!
    train_once b "$DEFAULT/$target" "$DEFAULT/$manifest" || { wait "$first"; return 1; }
    wait "$first" || return 1
    helper compare-runs "$SCRATCH/run-a" "$SCRATCH/run-b"
}

step4_agents() {
    local per_gpu dir extra="" failed=0
    # --cpu-only: one pipeline (per_gpu means nothing without a GPU), two 1-epoch runs.
    ((CPU_ONLY)) && extra=$TINY_SWEEP
    for per_gpu in 1 2; do
        ((CPU_ONLY)) && ((per_gpu == 2)) && { echo "agents.per_gpu: 2 not run (--cpu-only)"; break; }
        echo "-- agents.device: $DEVICE, agents.per_gpu: $per_gpu"
        dir=$DEFAULT  # per_gpu 1 continues from step 3's data stage
        ((per_gpu == 1)) || dir=$(workdir "agents-$per_gpu" "data: {source: bundled}
agents: {device: $DEVICE, per_gpu: $per_gpu}
$extra")
        if pipeline "$dir" gpu-check.yaml; then helper agents "$dir" || failed=1; else failed=1; fi
    done
    return $failed
}

# The MNIST folder for step 5, or nothing (then the bundled sample is used).
mnist_folder() {
    local candidate
    for candidate in "$MNIST" "$REPO/../shared/data/mnist" "$REPO/benchmarks/out/mnist"; do
        [[ -n $candidate && -d $candidate ]] && { (cd "$candidate" && pwd); return; }
    done
}

step5_full_mnist() {
    local folder data dir agents="agents: {device: $DEVICE}" extra=""
    folder=$(mnist_folder)
    if [[ -n $folder ]]; then
        data="data: {source: local, path: '$folder'$( ((CPU_ONLY)) && echo ', fraction: 0.05')}"
    else
        echo "no MNIST folder (--mnist, \$MNIST_DIR, ../shared/data/mnist, benchmarks/out/mnist): the bundled 5,000-digit sample instead, so this is NOT full MNIST"
        data="data: {source: bundled}"
    fi
    if ((CPU_ONLY)); then
        extra=$TINY_SWEEP agents="agents: {device: $DEVICE, count: 1}"
        echo "--cpu-only: 1 run of 1 epoch by 1 agent$([[ -n $folder ]] && echo ' on 5% of MNIST')"
    fi
    dir=$(workdir full-mnist "$data
$agents
$extra")
    ((CPU_ONLY)) && tiny_sweep "$dir" "0.002"
    pipeline "$dir" configs/full-mnist.yaml gpu-check.yaml || return 1
    helper trials "$dir"
}

FAILED=()
STEP_OUT=$SCRATCH/steps
mkdir -p "$STEP_OUT"
TINY_SWEEP="sweep: {file: gpu-check-sweep.yaml}"
# The default pipeline's copy: step 3 trains on its data stage's output, step 4 runs the rest.
DEFAULT=$(workdir default "data: {source: bundled}
agents: {device: $DEVICE, per_gpu: 1}
$( ((CPU_ONLY)) && echo "$TINY_SWEEP")")

step() {
    local number=$1 title=$2 started=$SECONDS
    shift 2
    echo
    echo "== step $number: $title =="
    if "$@" 2>&1 | tee "$STEP_OUT/$number.txt"; then
        echo "-- step $number ok ($((SECONDS - started)) s)"
    else
        echo "-- step $number FAILED ($((SECONDS - started)) s)"
        FAILED+=("$number")
    fi
}

step 0 "environment and dependencies" step0_preflight
step 1 "nvidia-smi, torch, CUDA and cuDNN versions" step1_versions
if ((!CPU_ONLY)) && [[ " ${FAILED[*]} " == *" 1 "* ]]; then
    echo "no usable GPU: steps 2-5 not run"
    exit 1
fi
step 2 "training throughput, GPU vs CPU" step2_throughput
step 3 "determinism: the default run config twice, same seed, on $DEVICE" step3_determinism
step 4 "the default pipeline on $DEVICE: the device each agent used" step4_agents
step 5 "full MNIST from data.source: local: test accuracy and seconds per trial" step5_full_mnist

echo
echo "== summary =="
grep -h -e '^GPU/CPU ratio' -e '^determinism:' -e '^-- agents.device' -e '^agent [0-9]' -e '^FAILED' -e '^data:' \
    -e '^best:' -e '^no MNIST folder' \
    "$STEP_OUT"/*.txt
if ((${#FAILED[@]})); then
    echo "FAILED steps: ${FAILED[*]} (total $SECONDS s)"
    exit 1
fi
echo "all steps ok (total $SECONDS s)"
