"""Calls from the phone system, for ``calmline serve``: the wire formats (Twilio
Media Streams, Genesys AudioHook, Asterisk AudioSocket), the switchboard that
runs one call session per stream (their transcription sharing one model and one
``asr`` scheduler), and the server that takes the streams and serves the
operators' screens.

Imports point down: this wing uses ``session``, ``web`` (the screens), ``asr``
(the engine, the live stage and its scheduler) and ``audio``; only the CLI
imports it.
"""
