# How training runs: one process, or torchrun with --ngpu processes (one per GPU) when ngpu > 1.
# On a cluster, put your launcher here instead (e.g. "srun --gres=gpu:$ngpu torchrun ...").
if [ "${ngpu:-0}" -gt 1 ]; then
  train_cmd="torchrun --standalone --nproc_per_node=$ngpu -m vqspeech train"
else
  train_cmd="vqspeech train"
fi
