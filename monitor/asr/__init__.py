"""Words from speech: the Whisper model (bundled, cached, loaded offline), the
decoding rules that are safe live, the transcription stage with its backlog
policy, replay windows, and the filter for output that is not speech.

Imports point down: this wing uses ``events``/``vocabulary``/``errors`` and
``audio``; nothing here imports the CLI, the session, or ``config``.
"""
