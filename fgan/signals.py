"""SIGTERM and SIGINT, recorded instead of raised, from the first instant.

An entry point calls ``install()`` before it imports anything heavy (jax,
the data): from then on a signal never interrupts a write or an import
with a KeyboardInterrupt; it is recorded, and the run stops at the next safe
point: during set-up at the next ``raise_if_received`` (nothing written
yet, or only complete identity files), during training after the current
step with a checkpoint (fgan.loop). Only the standard library is imported
here.
"""

from __future__ import annotations

import contextlib
import signal

from fgan import errors

_RECEIVED: list[int] = []
STOPPING = (signal.SIGTERM, signal.SIGINT)


def _record(signum, frame) -> None:
  del frame
  _RECEIVED.append(signum)


def install() -> None:
  """Record SIGTERM and SIGINT from now on (``received``)."""
  for s in STOPPING:
    signal.signal(s, _record)


@contextlib.contextmanager
def catching():
  """Record SIGTERM and SIGINT within the block (a library call of a run);
  the previous handlers come back after it. Signals recorded before, by an
  entry point's ``install``, still count; those recorded by the block
  itself are forgotten after it when it installed the handlers.

  Yields:
    The list of recorded signals.
  """
  previous = {s: signal.getsignal(s) for s in STOPPING}
  installed_here = any(h is not _record for h in previous.values())
  install()
  try:
    yield _RECEIVED
  finally:
    for s, h in previous.items():
      signal.signal(s, h)
    if installed_here:
      _RECEIVED.clear()


def received() -> list[int]:
  """The signals recorded since ``install`` (the list itself, which grows as
  signals arrive).

  Returns:
    The list.
  """
  return _RECEIVED


def raise_if_received(what: str = "before training began; nothing was trained") -> None:
  """Stop at a safe point of set-up if a signal has arrived.

  Args:
    what: what the stop leaves behind, for the message.

  Raises:
    errors.Preempted: a signal was recorded.
  """
  if _RECEIVED:
    raise errors.Preempted(f"fgan: signal {_RECEIVED[0]} received {what}. Rerun the "
                           "same command to start.")
