"""Errors about audio input that the person running calmline can act on."""


class AudioInputError(Exception):
    """The audio cannot be read: missing, not audio, corrupt, no device, ...

    The message is one line, fit to show as it is.
    """


class AudioDecodeError(AudioInputError):
    """Decoding stopped part-way through a file; what came before it is valid."""
