"""Which input channel is which party.

Default: stereo left = operator, right = customer; mono = one ``call`` speaker
(per-speaker cues then describe the whole call).  A mapping such as
``customer,operator`` names the speaker of each channel in order; ``-`` ignores a
channel, and channels past the end of the mapping are ignored too, so a
6-channel recording can be read with ``operator,customer`` or ``-,-,operator,customer``.
More than two channels without a mapping is an error: guessing would silently
mislabel a party.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.errors import AudioInputError

SPEAKERS = ("operator", "customer", "call")
IGNORE = "-"


@dataclass(frozen=True)
class ChannelMap:
    indices: tuple[int, ...]      # input channel of each speaker
    speakers: tuple[str, ...]     # speaker name of each selected channel
    input_channels: int

    @property
    def mono(self) -> bool:
        return self.speakers == ("call",)


def parse_mapping(text: str) -> tuple[str, ...]:
    """Check a ``--channels`` value like ``customer,operator``."""
    names = tuple(part.strip().lower() for part in text.split(","))
    if not names or any(not n for n in names):
        raise AudioInputError(f"--channels {text!r}: give one name per channel, e.g. operator,customer")
    bad = [n for n in names if n not in SPEAKERS + (IGNORE,)]
    if bad:
        raise AudioInputError(f"--channels {text!r}: unknown speaker {bad[0]!r} "
                              f"(use operator, customer, call or - to ignore a channel)")
    used = [n for n in names if n != IGNORE]
    if not used:
        raise AudioInputError(f"--channels {text!r}: no channel is assigned to a speaker")
    if len(set(used)) != len(used):
        raise AudioInputError(f"--channels {text!r}: a speaker appears twice")
    if "call" in used and len(used) > 1:
        raise AudioInputError(f"--channels {text!r}: 'call' is for a single mixed channel only")
    return names


def map_channels(input_channels: int, mapping: tuple[str, ...] | None) -> ChannelMap:
    """Decide the speakers of a stream with ``input_channels`` channels."""
    if input_channels < 1:
        raise AudioInputError("the audio has no channels")
    if mapping is None:
        if input_channels == 1:
            return ChannelMap((0,), ("call",), 1)
        if input_channels == 2:
            return ChannelMap((0, 1), ("operator", "customer"), 2)
        raise AudioInputError(
            f"the audio has {input_channels} channels; say which is which with "
            f"--channels (e.g. --channels operator,customer{',-' * (input_channels - 2)})")
    if len(mapping) > input_channels:
        raise AudioInputError(f"--channels names {len(mapping)} channels but the audio has "
                              f"only {input_channels}")
    picked = [(i, name) for i, name in enumerate(mapping) if name != IGNORE]
    return ChannelMap(tuple(i for i, _ in picked), tuple(n for _, n in picked), input_channels)
