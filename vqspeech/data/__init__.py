"""Corpora as Kaldi data dirs: reading/writing (kaldi.py), validation, corpus builders (synth, VCTK,
LibriSpeech), alignments and training batches."""

from vqspeech.data.kaldi import (
    DataDir,
    PhoneInterval,
    load_utterance,
    read_ctm,
    read_data_dir,
    write_ctm,
    write_data_dir,
)

__all__ = ["DataDir", "PhoneInterval", "load_utterance", "read_ctm", "read_data_dir", "write_ctm",
           "write_data_dir"]
