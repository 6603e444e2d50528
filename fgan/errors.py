"""The errors a user can cause or meet, each carrying one message that names
the problem and the fix; entry points print it without a traceback. The
``check_*`` helpers raise ConfigError for one field's value."""

import math


class FganError(Exception):
  """Base of fgan's user-facing errors."""


class ConfigError(FganError, ValueError):
  """The config cannot describe a valid run (checked before anything is
  loaded, compiled or written)."""


class DataUnavailableError(FganError, RuntimeError):
  """The requested dataset cannot be obtained on this machine."""


class DataIntegrityError(FganError, ValueError):
  """A data file exists but is not what it should be (checksum, format)."""


class WorkdirError(FganError, RuntimeError):
  """A work directory cannot be used as asked: held by another process,
  holding a different run, or with damaged files of its own."""


class NonFiniteError(FganError, RuntimeError):
  """The losses or parameters became NaN or Inf."""


class CheckpointWriteError(FganError, RuntimeError):
  """A checkpoint could not be written (disk full, permissions); the previous
  one is intact."""


class Preempted(FganError, RuntimeError):
  """SIGTERM or SIGINT arrived; a checkpoint was saved (or training had not
  started)."""


def check_choice(field: str, value, valid) -> None:
  """A ConfigError unless config.<field> is one of ``valid``.

  Args:
    field: the dotted field.
    value: its value.
    valid: the allowed values.
  """
  if value not in valid:
    raise ConfigError(f"config.{field} = {value!r} is not one of: "
                      f"{', '.join(map(str, valid))}.")


def check_int(field: str, value, minimum: int, zero_means: str | None = None) -> None:
  """A ConfigError unless config.<field> is an int >= ``minimum`` (what 0
  stands for, where it stands for something, is named in the message).

  Args:
    field: the dotted field.
    value: its value.
    minimum: the least allowed.
    zero_means: what 0 stands for, or None.
  """
  if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
    raise ConfigError(f"config.{field} = {value!r} must be an int >= {minimum}"
                      + (f" (0 = {zero_means})." if zero_means else "."))


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_float(field: str, value, low: float, high: float = float("inf"),
                low_open: bool = False, high_open: bool = True, off: str | None = None) -> None:
  """A ConfigError unless config.<field> is a finite number in the interval
  from ``low`` to ``high`` (each end open or closed as said; what ``low``
  stands for, where it stands for something, is named in the message).

  Args:
    field: the dotted field.
    value: its value.
    low, high: the interval's ends.
    low_open, high_open: whether each end is excluded.
    off: what ``low`` stands for, or None.
  """
  inside = _is_number(value) and math.isfinite(value) and (
      value > low if low_open else value >= low) and (value < high if high_open else value <= high)
  if not inside:
    interval = (("(" if low_open else "[") + f"{low:g}, {high:g}" + (")" if high_open else "]"))
    raise ConfigError(f"config.{field} = {value!r} must be a finite number in {interval}"
                      + (f" ({low:g} = {off})." if off else "."))


def check_bool(field: str, value) -> None:
  """A ConfigError unless config.<field> is True or False.

  Args:
    field: the dotted field.
    value: its value.
  """
  if not isinstance(value, bool):
    raise ConfigError(f"config.{field} = {value!r} must be True or False.")


def check_str(field: str, value) -> None:
  """A ConfigError unless config.<field> is a string.

  Args:
    field: the dotted field.
    value: its value.
  """
  if not isinstance(value, str):
    raise ConfigError(f"config.{field} = {value!r} must be a string.")


def check_floats(field: str, values) -> None:
  """A ConfigError unless config.<field> is a sequence of finite numbers.

  Args:
    field: the dotted field.
    values: its value.
  """
  if not (isinstance(values, (tuple, list)) and all(
      _is_number(v) and math.isfinite(v) for v in values)):
    raise ConfigError(f"config.{field} = {values!r} must be a tuple of finite numbers, "
                      "e.g. --config.data.means='(-1.0, 2.0)'.")


def check_positive_ints(field: str, values) -> None:
  """A ConfigError unless every one of config.<field>'s ``values`` is an
  int > 0.

  Args:
    field: the dotted field.
    values: its value's items.
  """
  if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
    shown = values[0] if len(values) == 1 else values
    raise ConfigError(f"config.{field} = {shown!r} must hold positive ints.")
