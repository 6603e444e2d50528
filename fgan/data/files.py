"""Where fgan keeps data, and the checksums that identify it."""

from __future__ import annotations

import hashlib
import os
import pathlib

import numpy as np

from fgan.errors import DataIntegrityError, DataUnavailableError


def data_dir() -> pathlib.Path:
  """Where fgan keeps data files and caches: $FGAN_DATA_DIR, default
  ~/.cache/fgan.

  Returns:
    The folder (not created).

  Raises:
    DataUnavailableError: the path is a file.
  """
  path = pathlib.Path(os.environ.get("FGAN_DATA_DIR", pathlib.Path.home() / ".cache" / "fgan"))
  if path.exists() and not path.is_dir():
    raise DataUnavailableError(
        f"The data folder {path} ($FGAN_DATA_DIR, default ~/.cache/fgan) is a file, not "
        "a directory. Point FGAN_DATA_DIR at a folder, or unset it.")
  return path


def sha256_file(path) -> str:
  """SHA-256 of a file's bytes, read in 1 MiB pieces.

  Args:
    path: the file.

  Returns:
    The hex digest.
  """
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def verify(path, expected: str) -> None:
  """That a file's SHA-256 is ``expected``.

  Args:
    path: the file.
    expected: its hex digest.

  Raises:
    DataIntegrityError: it is not; the message says not to read the file.
  """
  got = sha256_file(path)
  if got != expected:
    raise DataIntegrityError(
        f"{path}: SHA-256 {got} does not match the expected {expected}. The "
        "file is corrupt or not the dataset it claims to be; reinstall it "
        "(see README, 'Data') rather than reading it.")


class ContentHash:
  """SHA-256 of a dataset's content, fed in pieces: the uint8 image bytes
  in order, then the int64 label bytes (fgan's content_sha256, the same
  digest whether computed whole or in pieces)."""

  def __init__(self):
    """An empty hash."""
    self._images, self._labels = hashlib.sha256(), []

  def update(self, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Args: images, a piece (N, ...) uint8; labels, its (N,) labels or None."""
    self._images.update(np.ascontiguousarray(images, np.uint8).tobytes())
    if labels is not None:
      self._labels.append(np.ascontiguousarray(labels, np.int64).tobytes())

  def hexdigest(self) -> str:
    """Returns: the hex digest of everything fed."""
    h = self._images.copy()
    for piece in self._labels:
      h.update(piece)
    return h.hexdigest()


def content_sha256(images: np.ndarray, labels: np.ndarray | None) -> str:
  """SHA-256 of the uint8 image bytes followed by the int64 label bytes.

  Args:
    images: (N, ...) uint8.
    labels: (N,) or None.

  Returns:
    The hex digest.
  """
  h = ContentHash()
  h.update(images, labels)
  return h.hexdigest()
