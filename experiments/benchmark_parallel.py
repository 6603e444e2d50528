r"""Steps per second of the main job's DCGAN step against the device count.

  python -m experiments.benchmark_parallel                 # simulated CPU devices
  python -m experiments.benchmark_parallel --devices=1,2,4,8 --mode=pmap

Each device count runs in a fresh subprocess (XLA_FLAGS must be set before
jax is imported); on a machine with real accelerators, --simulate=false uses
them as they are. The global batch is fixed, so more devices means a smaller
per-device batch. Prints one line per count: devices, steps/s, images/s and
the speed-up over one device.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags

_DEVICES = flags.DEFINE_list("devices", ["1", "2", "4", "8"], "Device counts.")
_MODE = flags.DEFINE_enum("mode", "pmap", ["pmap", "mesh"], "Parallel mode.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps.")
_SIMULATE = flags.DEFINE_bool("simulate", True, "Simulate devices on the CPU.")
_CHILD = flags.DEFINE_integer("child", 0, "Internal: run one measurement.")


def measure(mode, batch, steps):
  import jax  # pylint: disable=import-outside-toplevel
  from configs import js_mnist  # pylint: disable=import-outside-toplevel
  from experiments import benchmark  # pylint: disable=import-outside-toplevel
  config = js_mnist.get_config()
  config.train.batch_size = batch
  config.parallel.mode = mode if jax.device_count() > 1 else "none"
  timer = benchmark.train_timer(config, min_iterations=steps)
  return {"devices": jax.device_count(), "backend": jax.default_backend(),
          "steps_per_second": timer(0.0), "first_step_s": timer.info["first_step_s"]}


def main(argv):
  del argv
  if _CHILD.value:
    print("RESULT " + json.dumps(measure(_MODE.value, _BATCH.value, _STEPS.value)))
    return
  from fgan import parallel  # pylint: disable=import-outside-toplevel
  base = None
  print(f"mode={_MODE.value} global batch={_BATCH.value} steps={_STEPS.value}")
  for n in _DEVICES.value:
    env = parallel.simulated_devices_env(n) if _SIMULATE.value else dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "experiments.benchmark_parallel", "--child=1",
                          f"--mode={_MODE.value}", f"--batch_size={_BATCH.value}",
                          f"--steps={_STEPS.value}"], env=env, capture_output=True,
                         text=True, check=True)
    r = json.loads(out.stdout.split("RESULT ")[-1])
    base = base or r["steps_per_second"]
    print(f"devices={r['devices']:2d} backend={r['backend']} "
          f"steps/s={r['steps_per_second']:.2f} images/s={r['steps_per_second'] * _BATCH.value:.0f} "
          f"speedup={r['steps_per_second'] / base:.2f} first_step={r['first_step_s']:.1f}s")


if __name__ == "__main__":
  app.run(main)
