"""The package's one user-facing error type.

Anything a user can cause (a missing file, a bad config, an unknown speaker) raises `VQSpeechError`
with a message that fits on one line; the CLI prints it to stderr and exits with code 2.
"""


class VQSpeechError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""
