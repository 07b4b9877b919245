"""The codec: the `.vqs` bitstream (bitstream.py; version 2 in vqs2.py), range coding with the prior
(entropy.py: the integer prior in int_prior.py, its numba kernel and range coder in int_kernel.py, the
same coder in plain Python in rangecoder.py), files in and out (files.py), `info` of a .vqs
(describe.py), chunked encoding and decoding of waveforms (api.py)."""
