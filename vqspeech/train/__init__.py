"""Training: configs, the trainer loop, checkpoints with exact resume, logging, torchrun scale-out.

Entry points: `train_vqvae(...)` (vqspeech.train.vqvae), `train_prior(...)` (vqspeech.train.prior) and
`train_f0(...)` (vqspeech.train.f0), each under the experiment-dir rules of vqspeech.train.experiment;
the CLI verbs live in vqspeech/commands/train.py.
"""
