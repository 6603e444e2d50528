"""The errors a user can cause or meet, each carrying one message that names
the problem and the fix; entry points print it without a traceback."""


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
  """A ConfigError unless config.<field> is one of ``valid``."""
  if value not in valid:
    raise ConfigError(f"config.{field} = {value!r} is not one of: "
                      f"{', '.join(map(str, valid))}.")


def check_int(field: str, value, minimum: int, zero_means: str | None = None) -> None:
  """A ConfigError unless config.<field> is an int >= ``minimum`` (what 0
  stands for, where it stands for something, is named in the message)."""
  if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
    raise ConfigError(f"config.{field} = {value!r} must be an int >= {minimum}"
                      + (f" (0 = {zero_means})." if zero_means else "."))
