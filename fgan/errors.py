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
