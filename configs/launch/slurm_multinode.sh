#!/usr/bin/env bash
# Several nodes under SLURM: one launcher per node, each starting one process per GPU.
#   sbatch configs/launch/slurm_multinode.sh --method grpo --data data/humanual-opinion --out runs/grpo
#SBATCH --job-name=personadrop
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
set -euo pipefail

GPUS_PER_NODE=8
MAIN_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

# srun starts the launcher once per node; each one knows its node's rank.
srun bash -c "accelerate launch \
  --config_file configs/launch/ddp_multinode.yaml \
  --num_machines $SLURM_NNODES \
  --num_processes $((SLURM_NNODES * GPUS_PER_NODE)) \
  --machine_rank \$SLURM_NODEID \
  --main_process_ip $MAIN_HOST \
  --main_process_port 29500 \
  -m personadrop train $*"
