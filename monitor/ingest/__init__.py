"""Calls from the phone system, for ``calmline serve``: the wire formats (Twilio
Media Streams, Genesys AudioHook, Asterisk AudioSocket), the switchboard that
runs one call session per stream, the transcription pool every call shares, and
the server that takes the streams and serves the operators' screens.

Imports point down: this wing uses ``session``, ``web`` (the screens), ``asr``
(the engine and the live stage it extends) and ``audio``; only the CLI imports it.
"""
