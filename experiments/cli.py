"""What every entry point does with flags and errors: a bad flag or a
user-facing error (fgan.errors.FganError) ends in one message and exit
status 2 (0 for a preemption: rerun to resume; 1 for an internal error);
--verbose or FGAN_VERBOSE=1 adds the traceback."""

import os
import sys
import traceback

from absl import flags

from fgan import errors

_VERBOSE = flags.DEFINE_bool("verbose", False, "Print tracebacks with error messages.")


def parse_flags(argv):
  """absl's flag parsing, with a bad flag (an unknown config field, a value
  of the wrong type) ending in one message instead of a traceback."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    message = str(e).strip().strip("'\"").replace("\\n", " ").replace("\\'", "'")
    if isinstance(e, (AttributeError, KeyError)):  # ml_collections: no such field
      field, _, hint = message.partition(" ")
      message = f"the config has no field {field.strip(chr(39))!r}. {hint}".strip()
    print(f"fgan: bad command line: {message}\nSee --helpfull for the flags; "
          "--config.FIELD=VALUE sets an existing config field.", file=sys.stderr)
    sys.exit(2)


def verbose() -> bool:
  return bool(os.environ.get("FGAN_VERBOSE")) or (flags.FLAGS.is_parsed() and _VERBOSE.value)


def report_error(e: BaseException) -> int:
  """Print an error for the user; return the exit status."""
  if verbose() or not isinstance(e, errors.FganError):
    traceback.print_exception(e)
  if isinstance(e, errors.FganError):
    print(str(e), file=sys.stderr)
  return 0 if isinstance(e, errors.Preempted) else 2 if isinstance(e, errors.FganError) else 1
