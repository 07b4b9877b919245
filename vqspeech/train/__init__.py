"""Training: configs, the trainer loop, checkpoints with exact resume, logging, torchrun scale-out.

Entry points: `train_vqvae(...)` (vqspeech.train.vqvae) and `train_prior(...)` (vqspeech.train.prior);
the CLI verbs live in vqspeech/commands/train.py.
"""
