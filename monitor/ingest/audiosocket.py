"""Asterisk AudioSocket, the server side, on ``--audiosocket-port`` (TCP).

Every message is a 3-byte header, one byte of kind and a big-endian 16-bit
payload length, then the payload:

- ``0x01`` the stream's UUID (16 bytes, binary), first;
- ``0x10`` audio: signed linear 16-bit, 8 kHz, mono, little-endian;
- ``0x03`` a DTMF digit (1 byte, ignored here);
- ``0x00`` hang-up (closing the socket means the same);
- ``0xff`` an error; Asterisk's codes are bit flags (``0x01`` the calling party
  hung up, ``0x02`` frame forwarding error, ``0x04`` memory error).

One AudioSocket stream carries one direction of audio, so a call comes as two
streams whose UUIDs differ only in the last hex digit: ``...0`` is the
**customer** (what the customer says: a snoop on the customer's channel with
``spy=in``), ``...1`` the **operator** (what the customer hears: ``spy=out``).
The call id is the UUID with that digit 0.  A stream whose UUID ends in another
digit is a whole call mixed on one stream (one ``call`` speaker).  The call ends
when every stream that joined it has ended.  README "connect your phone system"
has the Asterisk recipe.

The protocol has no operator name and no credential: an operator's screen gets an
AudioSocket call only when it was announced (:class:`Announcements`), and only
peers in ``--audiosocket-peer`` (default: loopback) may connect; others are
closed at once, unread (counted).

Errors: a malformed message (a UUID that is not 16 bytes, audio before the UUID or
not whole samples, audio at another rate, nothing for too long) is answered with
``0xff`` and an application code (``0x01`` protocol error, ``0x02`` call refused,
``0x03`` unsupported audio) and the socket is closed; the call ends with that
error, after everything received before it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from monitor.ingest.calls import CallRefused, CallRequest, LiveCall, Switchboard
from monitor.ingest.streams import push_audio

KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
OTHER_RATES = range(0x11, 0x19)         # slin12 ... slin192: not taken here
ERR_PROTOCOL, ERR_REFUSED, ERR_UNSUPPORTED = 0x01, 0x02, 0x03
ASTERISK_ERRORS = {0x01: "the calling party hung up", 0x02: "frame forwarding error",
                   0x04: "memory (allocation) error"}
DIRECTIONS = {"0": "customer", "1": "operator"}
FIRST_MESSAGE_S = 10.0                  # the UUID must come this soon
IDLE_S = 120.0                          # a stream silent this long is taken for dead
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class StreamError(Exception):
    def __init__(self, message: str, code: int = ERR_PROTOCOL) -> None:
        super().__init__(message)
        self.code = code


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket message."""
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def parse_peers(specs: Iterable[str]) -> tuple[Network, ...]:
    """``--audiosocket-peer`` values (addresses or networks); raises ValueError."""
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in specs)


def describe_error(payload: bytes) -> str:
    if not payload:
        return "Asterisk reported an error"
    code = payload[0]
    parts = [text for bit, text in ASTERISK_ERRORS.items() if code & bit]
    return "Asterisk reported: " + (", ".join(parts) if parts else f"error 0x{code:02x}")


class Announcements:
    """Which operator an AudioSocket call belongs to, announced before its streams
    connect (``POST /ingest/audiosocket/calls``); bounded, oldest forgotten first."""

    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self._operators: dict[str, str] = {}
        self._lock = threading.Lock()

    def announce(self, call_id: str, operator: str) -> None:
        with self._lock:
            self._operators.pop(call_id, None)
            self._operators[call_id] = operator
            while len(self._operators) > self.limit:
                self._operators.pop(next(iter(self._operators)))

    def take(self, call_id: str) -> str | None:
        with self._lock:
            return self._operators.pop(call_id, None)


@dataclass
class _Pair:
    call: LiveCall
    joined: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    error: str | None = None


class AudioSocketServer:
    """Accepts AudioSocket streams and pairs each call's directions into one call."""

    def __init__(self, switchboard: Switchboard, peers: tuple[Network, ...],
                 announcements: Announcements | None = None) -> None:
        self.switchboard = switchboard
        self.peers = peers
        self.announcements = announcements or Announcements()
        self._pairs: dict[str, _Pair] = {}
        self.refused_peers = 0
        self.streams = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on a bound, listening socket (on the running event loop)."""
        self.server = await asyncio.start_server(self.handle, sock=sock, limit=70000)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def allows(self, host: str) -> bool:
        """Whether a peer at ``host`` may stream (or announce) calls."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None) is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.peers)

    def _allowed(self, writer: asyncio.StreamWriter) -> bool:
        peer = writer.get_extra_info("peername")
        return isinstance(peer, tuple) and bool(peer) and self.allows(str(peer[0]))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._allowed(writer):
            self.refused_peers += 1
            writer.close()
            return
        self.streams += 1
        joined: tuple[_Pair, str, int] | None = None
        error: str | None = None
        try:
            joined = await self._join(reader)
            error = await self._read(reader, *joined[1:], joined[0].call)
        except StreamError as exc:
            error = f"audiosocket: {exc}"
            await _send_error(writer, exc.code)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass                            # closing the socket is a hang-up too
        finally:
            if joined is not None:
                self._leave(joined[0], joined[1], error)
            writer.close()

    async def _join(self, reader: asyncio.StreamReader) -> tuple[_Pair, str, int]:
        kind, payload = await _message(reader, FIRST_MESSAGE_S)
        if kind != KIND_UUID or len(payload) != 16:
            raise StreamError("the first message must be the 16-byte UUID (kind 0x01)")
        text = str(uuidlib.UUID(bytes=payload))
        direction = DIRECTIONS.get(text[-1], "call")
        call_id = text[:-1] + "0" if direction != "call" else text
        pair = self._pairs.get(call_id)
        if pair is None or direction == "call":
            speakers = ("call",) if direction == "call" else ("operator", "customer")
            request = CallRequest(call_id=call_id, protocol="audiosocket", speakers=speakers,
                                  operator=self.announcements.take(call_id),
                                  description=f"audiosocket call {call_id}")
            try:
                pair = _Pair(self.switchboard.start_call(request))
            except CallRefused as exc:
                raise StreamError(str(exc), ERR_REFUSED) from None
            if direction != "call":
                self._pairs[call_id] = pair
        elif direction in pair.joined:
            raise StreamError(f"a second {direction} stream for call {call_id}", ERR_REFUSED)
        pair.joined.add(direction)
        channel = 0 if direction in ("call", "operator") else 1
        return pair, direction, channel

    async def _read(self, reader: asyncio.StreamReader, direction: str, channel: int,
                    call: LiveCall) -> str | None:
        """Audio until hang-up; the error that ended it, if any."""
        while True:
            kind, payload = await _message(reader, IDLE_S)
            if kind == KIND_AUDIO:
                if len(payload) % 2:
                    raise StreamError("audio that is not whole 16-bit samples")
                if call.failed:
                    raise StreamError(f"the call could not be recorded: {call.error}", ERR_REFUSED)
                samples = np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0
                await push_audio(call, samples, channel=channel)
            elif kind == KIND_HANGUP:
                return None
            elif kind == KIND_ERROR:
                return f"audiosocket {direction} stream: {describe_error(payload)}"
            elif kind == KIND_UUID:
                raise StreamError("a second UUID on one stream")
            elif kind in OTHER_RATES:
                raise StreamError("only 8 kHz signed linear audio (kind 0x10) is taken", ERR_UNSUPPORTED)
            # DTMF (0x03) and kinds this version does not know are skipped

    def _leave(self, pair: _Pair, direction: str, error: str | None) -> None:
        pair.ended.add(direction)
        pair.error = pair.error or error
        if pair.ended >= pair.joined:        # every stream of the call has ended
            key = pair.call.request.call_id
            if self._pairs.get(key) is pair:
                del self._pairs[key]
            pair.call.end(pair.error)


async def _message(reader: asyncio.StreamReader, timeout: float) -> tuple[int, bytes]:
    try:
        head = await asyncio.wait_for(reader.readexactly(3), timeout)
        length = int.from_bytes(head[1:3], "big")
        payload = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    except asyncio.TimeoutError:
        raise StreamError(f"nothing received for {timeout:.0f} s") from None
    return head[0], payload


async def _send_error(writer: asyncio.StreamWriter, code: int) -> None:
    try:
        writer.write(frame(KIND_ERROR, bytes([code])))
        await writer.drain()
    except (ConnectionError, RuntimeError):
        pass
