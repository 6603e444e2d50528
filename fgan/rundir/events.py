"""TensorBoard event files of scalars, written directly by this process.

An event file, ``<folder>/events.out.tfevents.<unix time>.<host>``, is a
sequence of TFRecords (tensorflow/core/lib/io/record_writer.cc)::

  uint64 length, uint32 masked CRC-32C of the length,
  the data, uint32 masked CRC-32C of the data         (little-endian)

whose data are Event protocol buffers (tensorflow/core/util/event.proto,
summary.proto), the first one the file version, the others scalars::

  Event {wall_time = 1 (double), step = 2 (int64),
         file_version = 3 (string), summary = 5 (Summary)}
  Summary {value = 1 (repeated Value)}
  Value {tag = 1 (string), simple_value = 2 (float)}

encoded as proto3 encodes them (fields in number order, zeros left out but
simple_value's, a member of a oneof).
The same bytes as tensorboardX's EventsWriter writes (tested), without its
package, whose import loads PyTorch wherever that is installed: seconds at
the start of every run.
"""

from __future__ import annotations

import pathlib
import socket
import struct
import time

import numpy as np

def _crc32c_table() -> tuple[int, ...]:
  """The byte table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
  table = []
  for i in range(256):
    c = i
    for _ in range(8):
      c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    table.append(c)
  return tuple(table)


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C of ``data`` (RFC 3720, appendix B.4).

  Args:
    data: the bytes.

  Returns:
    The checksum, an unsigned 32-bit int.
  """
  c = 0xFFFFFFFF
  for b in data:
    c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
  return c ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
  """TFRecord's masked CRC: rotate right by 15, add 0xa282ead8."""
  c = crc32c(data)
  return struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def record(data: bytes) -> bytes:
  """``data`` framed as one TFRecord.

  Args:
    data: the record's bytes.

  Returns:
    length, its masked CRC, data, its masked CRC.
  """
  length = struct.pack("<Q", len(data))
  return length + _masked_crc(length) + data + _masked_crc(data)


def _varint(n: int) -> bytes:
  n &= (1 << 64) - 1  # a negative int64 is its two's complement
  out = bytearray()
  while n > 0x7F:
    out.append((n & 0x7F) | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


def _length_delimited(number: int, data: bytes) -> bytes:
  return _varint(number << 3 | 2) + _varint(len(data)) + data


def event(wall_time: float, step: int = 0, file_version: str = "",
          scalars: dict | None = None) -> bytes:
  """An Event protocol buffer, serialised.

  Args:
    wall_time: seconds since the epoch.
    step: the train step.
    file_version: "brain.Event:2" in a file's first event, else "".
    scalars: {tag: number} of one Summary, in this order; each number is
      stored as a float32 (rounded; beyond its range, +-inf).

  Returns:
    The Event's bytes.
  """
  out = b""
  if wall_time:
    out += b"\x09" + struct.pack("<d", wall_time)
  if step:
    out += b"\x10" + _varint(step)
  if file_version:
    out += _length_delimited(3, file_version.encode())
  if scalars:
    values = b""
    for tag, v in scalars.items():
      value = _length_delimited(1, tag.encode()) if tag else b""
      with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as protobuf stores it
        bits = np.asarray(v, "<f4").tobytes()
      values += _length_delimited(1, value + b"\x15" + bits)
    out += _length_delimited(5, values)
  return out


class EventFile:
  """A new event file in ``folder``, its version event written; writes are
  synchronous (a failed write is an OSError in the caller, never a hung
  thread).

  Attributes:
    path: the file.
  """

  def __init__(self, folder):
    """Args: folder, an existing directory (workdir/tensorboard).

    Raises:
      OSError: the file could not be created or written.
    """
    now = time.time()
    self.path = (pathlib.Path(folder)
                 / f"events.out.tfevents.{int(now)}.{socket.gethostname()}")
    self._file = open(self.path, "ab")  # pylint: disable=consider-using-with
    self._file.write(record(event(now, file_version="brain.Event:2")))

  def write_scalars(self, step: int, scalars: dict, wall_time: float | None = None) -> None:
    """One event per scalar, as TensorBoard's scalar dashboard reads them.

    Args:
      step: the train step.
      scalars: {tag: number}.
      wall_time: seconds since the epoch (default: now).

    Raises:
      OSError: a write failed.
    """
    now = time.time() if wall_time is None else wall_time
    self._file.write(b"".join(record(event(now, step, scalars={k: v}))
                              for k, v in scalars.items()))

  def flush(self) -> None:
    """Hand the written events to the operating system.

    Raises:
      OSError: the write failed (a full disk).
    """
    self._file.flush()

  def close(self) -> None:
    """Flush and close.

    Raises:
      OSError: the final write failed; the file is closed anyway.
    """
    self._file.close()
