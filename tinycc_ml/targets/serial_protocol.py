"""The host side of the validation protocol the firmware speaks over its serial port
(templates/platformio/serial_protocol.c.j2 is the device side; the two must agree).

Frame: b"TC", type (1 byte), payload length (u32 LE), payload, CRC-32 (zlib's, u32 LE) of
type + length + payload.

    'Q' (empty)   -> 'H' input bytes, output bytes, counter scale, clock Hz (u32 LE each), counter name
    'I' input     -> 'O' status (i32), counter (u64), output bytes
    a bad frame   -> 'E' code: 1 CRC, 2 length, 3 timeout inside a frame, 4 type

A request whose answer is an error frame, a reply with a bad CRC, or no reply in time is
sent again (after the device's 200 ms inter-byte timeout has made it drop any partial
frame), up to `retries` times; then it is an error that says what happened.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from typing import Protocol

from ..errors import BuildError

MAGIC = b"TC"
QUERY, INFO, INPUT, OUTPUT, ERROR = b"Q", b"H", b"I", b"O", b"E"
ERROR_NAMES = {1: "bad CRC", 2: "wrong length", 3: "timeout inside a frame", 4: "unknown frame type"}
DEVICE_RESYNC_S = 0.3  # a little over the firmware's BYTE_TIMEOUT_MS
MAX_PAYLOAD = 64 << 20
DEFAULT_RETRIES = 3


class PortError(BuildError):
    """The board did not answer, or answered something the protocol does not allow."""


class Port(Protocol):
    """What the protocol needs of a serial port (pyserial's Serial has it)."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int) -> bytes: ...

    def reset_input_buffer(self) -> None: ...


def encode(kind: bytes, payload: bytes = b"") -> bytes:
    head = kind + struct.pack("<I", len(payload))
    return MAGIC + head + payload + struct.pack("<I", zlib.crc32(head + payload))


@dataclass(frozen=True)
class Frame:
    kind: bytes
    payload: bytes


@dataclass(frozen=True)
class DeviceInfo:
    input_bytes: int
    output_bytes: int
    counter_scale: int
    clock_hz: int
    counter_name: str


@dataclass(frozen=True)
class Inference:
    status: int
    count: int  # counter_name units (cycles on a board, instructions on QEMU)
    output: bytes
    retries: int  # how many times the request was sent again


class _Timeout(Exception):
    pass


class _BadFrame(Exception):
    pass


def _read_exactly(port: Port, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Timeout()
        port.timeout = min(left, 0.5)
        data += port.read(size - len(data))
    return data


def read_frame(port: Port, timeout_s: float) -> Frame:
    """The next frame; _Timeout when none is complete in time, _BadFrame on a bad CRC."""
    deadline = time.monotonic() + timeout_s
    window = b""
    while window != MAGIC:
        window = (window + _read_exactly(port, 1, deadline))[-2:]
    head = _read_exactly(port, 5, deadline)
    (length,) = struct.unpack("<I", head[1:])
    if length > MAX_PAYLOAD:
        raise _BadFrame(f"a frame claims {length} bytes")
    payload = _read_exactly(port, length, deadline)
    (crc,) = struct.unpack("<I", _read_exactly(port, 4, deadline))
    if crc != zlib.crc32(head + payload):
        raise _BadFrame("a reply with a bad CRC")
    return Frame(head[:1], payload)


@dataclass(frozen=True)
class Client:
    """Requests to the firmware on `port`, each answered within timeout_s or retried."""

    port: Port
    timeout_s: float = 10.0
    retries: int = DEFAULT_RETRIES

    def request(self, kind: bytes, payload: bytes, answer: bytes, frame: bytes | None = None) -> tuple[Frame, int]:
        """Send (the frame `frame`, normally encode(kind, payload)); the reply of kind `answer`
        and how many resends it took."""
        problems: list[str] = []
        data = encode(kind, payload) if frame is None else frame
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(DEVICE_RESYNC_S)  # let the device drop what it has of a broken frame
                data = encode(kind, payload)  # a deliberately corrupted first frame is not repeated
            self.port.reset_input_buffer()
            self.port.write(data)
            try:
                reply = read_frame(self.port, self.timeout_s)
            except _Timeout:
                problems.append(f"no answer within {self.timeout_s:g} s")
                continue
            except _BadFrame as exc:
                problems.append(str(exc))
                continue
            if reply.kind == ERROR:
                code = reply.payload[0] if reply.payload else 0
                problems.append(f"the board reported {ERROR_NAMES.get(code, f'error {code}')}")
                continue
            if reply.kind != answer:
                problems.append(f"an unexpected {reply.kind!r} frame")
                continue
            return reply, attempt
        raise PortError(f"the board gave no valid answer to a {kind.decode()!r} request after {self.retries + 1} "
                        f"tries ({'; '.join(problems)}); is the firmware of this model running on it, at this baud rate?")

    def info(self) -> DeviceInfo:
        reply, _ = self.request(QUERY, b"", INFO)
        if len(reply.payload) < 16:
            raise PortError(f"the board's info frame has {len(reply.payload)} bytes, expected at least 16")
        inputs, outputs, scale, clock = struct.unpack("<4I", reply.payload[:16])
        return DeviceInfo(inputs, outputs, scale, clock, reply.payload[16:].decode("ascii", "replace"))

    def infer(self, input_bytes: bytes, expected_output_bytes: int, frame: bytes | None = None) -> Inference:
        reply, retries = self.request(INPUT, input_bytes, OUTPUT, frame)
        if len(reply.payload) != 12 + expected_output_bytes:
            raise PortError(f"the board answered {len(reply.payload) - 12} output bytes, expected {expected_output_bytes}")
        status, low, high = struct.unpack("<iII", reply.payload[:12])
        return Inference(status, low | (high << 32), reply.payload[12:], retries)


def open_port(url: str, baud: int) -> Port:
    """A pyserial port: a device (/dev/ttyACM0, COM3) or a URL (socket://host:port)."""
    try:
        import serial  # noqa: PLC0415
    except ImportError:
        raise BuildError("`tinyc verify --port` needs pyserial: `pip install pyserial` (or `pip install 'tinycc_ml[serial]'`)") from None
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.5)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise BuildError(f"cannot open serial port {url}: {exc}") from None
