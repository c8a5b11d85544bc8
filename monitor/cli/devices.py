"""``calmline devices``: list audio input devices."""

from __future__ import annotations


def devices_command() -> None:
    """List audio input devices (index, name, channels, native rate).

    Use the index or part of the name with `calmline live --mic` and `--far-end`.
    """
    from rich.console import Console
    from rich.table import Table

    from audio.errors import AudioInputError
    from audio.mic_source import list_input_devices

    devices = list_input_devices()
    if not devices:
        raise AudioInputError("no audio input devices found (no sound card, or no permission "
                              "to use it)")
    table = Table(header_style="bold")
    for col in ("index", "name", "host API", "channels", "native rate"):
        table.add_column(col, justify="right" if col in ("index", "channels", "native rate") else "left")
    for d in devices:
        table.add_row(str(d.index), d.name, d.hostapi, str(d.channels), f"{d.default_rate} Hz")
    Console().print(table)
