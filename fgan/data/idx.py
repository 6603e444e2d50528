"""IDX files (LeCun's MNIST format, also Fashion-MNIST), gzipped or plain.

Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 size per dimension.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np


def read_idx(path: str) -> np.ndarray:
  """The uint8 array stored in an IDX file.

  Args:
    path: the file (gzipped when its name ends in .gz).

  Returns:
    The array, of the header's shape.

  Raises:
    ValueError: a bad header or a size that does not match it.
  """
  opener = gzip.open if str(path).endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise ValueError(f"{path}: not an IDX file (bad magic number).")
  if data[2] != 0x08:
    raise ValueError(f"{path}: IDX element type 0x{data[2]:02x} is not "
                     "unsigned byte (0x08).")
  ndim = data[3]
  header = 4 + 4 * ndim
  if len(data) < header:
    raise ValueError(f"{path}: IDX header truncated.")
  dims = struct.unpack(f">{ndim}I", data[4:header])
  expected = int(np.prod(dims)) if dims else 0
  if len(data) - header != expected:
    raise ValueError(f"{path}: IDX header promises shape {dims} "
                     f"({expected} bytes) but the file holds "
                     f"{len(data) - header} bytes: truncated or corrupt.")
  return np.frombuffer(data, np.uint8, offset=header).reshape(dims)
