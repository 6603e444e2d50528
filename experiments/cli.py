"""What every entry point does with signals, flags and errors.

Importing this module records SIGTERM and SIGINT from then on
(fgan.signals), so an entry point imports it first. A bad flag or config
file, or a user-facing error (fgan.errors.FganError, or a file system
error), ends in one message and exit status 2 (0 for a preemption: rerun to
resume; 1 for an internal error, with its traceback); --verbose or
FGAN_VERBOSE=1 adds the traceback to every message.
"""

from fgan import signals

signals.install()

# pylint: disable=wrong-import-position
import os
import pathlib
import sys
import traceback

from absl import app
from absl import flags

from fgan import errors

_VERBOSE = flags.DEFINE_bool("verbose", False, "Print tracebacks with error messages.")


def _config_file_problem(argv) -> str | None:
  """What is wrong with the --config file named in ``argv``, if anything:
  checked before absl runs it, whose errors would carry its traceback."""
  for arg in argv[1:]:
    if arg.startswith("--config="):
      path = pathlib.Path(arg[len("--config="):].split(":", 1)[0])
      if not path.is_file():
        return f"config file {str(path)!r} does not exist (--config=configs/NAME.py)."
      try:
        compile(path.read_text(), str(path), "exec")
      except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        where = f"{path}:{getattr(e, 'lineno', '?')}"
        return f"config file {where} is not valid Python ({getattr(e, 'msg', e)})."
  return None


def _one_line(e: BaseException) -> str:
  """An error of absl's or of a config file as one message: the last line
  of a wrapped traceback, the field an ml_collections lookup missed."""
  message = str(e).strip().strip("'\"").replace("\\n", " ").replace("\\'", "'")
  if "Error whilst parsing config file" in message or "Traceback" in message:
    message = [line for line in message.splitlines() if line.strip()][-1].strip()
  elif isinstance(e, (AttributeError, KeyError)):  # ml_collections: no such field
    field, _, hint = message.partition(" ")
    message = f"the config has no field {field.strip(chr(39))!r}. {hint}".strip()
  return message


def run_name(config_arg: str) -> str:
  """A config's run name: the file's stem, and its argument if any
  ("configs/mnist.py:kl" -> "mnist_kl")."""
  path, *argument = config_arg.split(":", 1)
  return "_".join([pathlib.Path(path).stem] + [a.replace("/", "-") for a in argument])


def parse_flags(argv):
  """absl's flag parsing, with a bad flag or config file (a missing file,
  invalid Python, an unknown config field or argument, a value of the wrong
  type) ending in one message and exit status 2 instead of a traceback."""
  problem = _config_file_problem(argv)
  if problem is None:
    try:
      return flags.FLAGS(argv)
    except Exception as e:  # pylint: disable=broad-except
      problem = _one_line(e)
  print(f"fgan: bad command line: {problem}\nSee --helpfull for the flags; "
        "--config.FIELD=VALUE sets an existing config field.", file=sys.stderr)
  sys.exit(2)


def verbose() -> bool:
  """Whether tracebacks go with messages (--verbose or FGAN_VERBOSE=1)."""
  return bool(os.environ.get("FGAN_VERBOSE")) or (flags.FLAGS.is_parsed() and _VERBOSE.value)


def report_error(e: BaseException) -> int:
  """Print an error for the user.

  Args:
    e: the error.

  Returns:
    The exit status: 0 for a preemption, 2 for a user-facing error, 1 for
    any other (its traceback printed).
  """
  user_facing = isinstance(e, (errors.FganError, OSError))
  if verbose() or not user_facing:
    traceback.print_exception(e)
  if isinstance(e, errors.FganError):
    print(str(e), file=sys.stderr)
  elif isinstance(e, OSError):
    where = f"{e.filename}: " if e.filename else ""
    print(f"fgan: {where}{e.strerror or e}. Free space or fix the path or its "
          "permissions, then rerun the same command (a run resumes from its last "
          "checkpoint).", file=sys.stderr)
  return 0 if isinstance(e, errors.Preempted) else 2 if user_facing else 1


def main_guard(main):
  """``main`` with every user-facing error reported (``report_error``) and
  the process ending with its exit status."""
  def guarded(argv):
    try:
      signals.raise_if_received()
      main(argv)
    except app.UsageError as e:
      print(f"fgan: bad command line: {e}", file=sys.stderr)
      sys.exit(2)
    except (errors.FganError, OSError) as e:
      sys.exit(report_error(e))
  return guarded
