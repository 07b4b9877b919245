"""vqspeech: speech to a stream of discrete codes and back (VQ-VAE, van den Oord et al. 2017)."""

__version__ = "0.1.0"
