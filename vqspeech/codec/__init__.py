"""The codec: the `.vqs` bitstream (bitstream.py), range coding with the prior (entropy.py), chunked
encoding and decoding of waveforms (api.py)."""
