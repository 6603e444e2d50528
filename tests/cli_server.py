"""Runs many command lines of one entry point quickly: the entry point's
module (and jax, fgan) is imported once, then each command line runs in a
forked child, exactly as ``python -m <module> <args>`` runs it after its
imports (its own process, flags, signal handlers, exit status, stdout and
stderr). Nothing touches the XLA backend before the fork.

  python -m tests.cli_server experiments.run < requests.jsonl

Each input line is a JSON object {"args": [...], "cwd": DIR, "env": {...}};
each output line {"returncode", "stdout", "stderr", "seconds"}: seconds from
the fork to the child's exit, the command line's own time after the imports.
"""

import importlib
import json
import os
import sys
import tempfile
import time


def _child(module, request, out_path, err_path):
  from absl import app  # pylint: disable=import-outside-toplevel
  from experiments import cli  # pylint: disable=import-outside-toplevel
  os.chdir(request.get("cwd", os.getcwd()))
  os.environ.update(request.get("env", {}))
  out, err = os.open(out_path, os.O_WRONLY), os.open(err_path, os.O_WRONLY)
  os.dup2(out, 1)
  os.dup2(err, 2)
  sys.argv = [module.__file__] + list(request["args"])
  code = 0
  try:
    app.run(cli.main_guard(module.main), flags_parser=cli.parse_flags)
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # pylint: disable=broad-except
    import traceback  # pylint: disable=import-outside-toplevel
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def main(name: str) -> None:
  module = importlib.import_module(name)
  for line in sys.stdin:
    request = json.loads(line)
    with tempfile.TemporaryDirectory() as tmp:
      out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
      open(out_path, "w").close()
      open(err_path, "w").close()
      started = time.perf_counter()
      pid = os.fork()
      if pid == 0:
        _child(module, request, out_path, err_path)
      _, status = os.waitpid(pid, 0)
      code = os.waitstatus_to_exitcode(status)
      seconds = time.perf_counter() - started
      with open(out_path) as f, open(err_path) as g:
        result = {"returncode": code, "stdout": f.read(), "stderr": g.read(),
                  "seconds": seconds}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
  main(sys.argv[1])
