r"""Training throughput of fgan's compiled train step, seeds vmapped or not.

  python -m experiments.benchmark [--sections=peak,toy,dcgan] [--seeds=8] [--rounds=3]

Sections (each prints its figures; all run through fgan.parallel.Runner,
the path experiments.run and experiments.sweep use):
  peak   the machine's float32 matmul rate (2048^3 products, jax), the
         reference for "share of peak"
  toy    the WGAN-GP toy setup (MLP 3x512, batch 256, ring of 8; js, 1
         critic step): one seed, then N seeds trained together (vmapped) and
         the ratio of N-seed to one-seed throughput; also a 3x128 MLP, the
         sweep's toy model
  dcgan  the 28x28 DCGAN of configs/js_mnist.py (critic without batch norm,
         as in the issue's reference) at batch 64 and 256: iterations/s,
         images/s, GFLOP per iteration (XLA's cost analysis), share of the
         matmul peak, time to the first step; N seeds (at most 4) vmapped
         at batch 64 with conv_impl "subpixel" (the default) and "matmul"
         (the critic's convolutions as matrix products too), each against
         one seed with the default

Everything compared (one seed, N seeds, the peer) is timed in turn,
--rounds times for --seconds each, and the medians are printed: this shared
machine's speed drifts by 20-30% between minutes, so one measurement each
could not be compared. "N seeds together vs one after another" is the ratio (N-seed iterations/s x
N) / (one-seed iterations/s): above 1, vmapping them is faster.

The peer (when torch is installed; skipped with a note otherwise): the same
networks in PyTorch eager (experiments/torch_peer.py, --torch_threads
threads), weights copied from fgan's, and first a check that both compute
the same critic and generator losses on the same weights and batch. Both use
the standard GAN loss (fgan divergence "gan"), Adam(2e-4, (0.5, 0.999)), one
critic and one generator step per iteration.
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from configs import base
from fgan import data
from fgan import losses
from fgan import parallel
from fgan import train

_SECTIONS = flags.DEFINE_list("sections", ["peak", "toy", "dcgan"], "Sections to run.")
_SEEDS = flags.DEFINE_integer("seeds", 8, "Seeds trained together in the vmapped runs.")
_SECONDS = flags.DEFINE_float("seconds", 3.0, "Timing length of each measurement.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Measurements of each timer, taken in turn "
                               "with the ones it is compared with; medians are reported.")
_THREADS = flags.DEFINE_integer("torch_threads", 0, "PyTorch threads (0 = cores).")


def matmul_peak(n: int = 2048, seconds: float = 3.0) -> float:
  """float32 GFLOP/s of an n x n x n matrix product."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  count, t = 0, time.perf_counter()
  while time.perf_counter() - t < seconds:
    f(a).block_until_ready()
    count += 1
  return 2 * n**3 * count / (time.perf_counter() - t) / 1e9


def train_timer(config, num_seeds: int = 1, min_iterations: int = 3):
  """A timer of the config's train step for ``num_seeds`` seeds (config.seed,
  config.seed + 1, ...) trained together (1: the plain step), compiled and
  run once: ``timer(seconds)`` runs it for ``seconds`` and at least
  ``min_iterations`` calls and returns iterations/s; ``timer.info`` holds
  GFLOP per call (XLA's cost analysis) and the time to the first step
  (compilation included)."""
  dataset = data.load(config.data)
  t0 = time.perf_counter()
  g, d = train.build_models(config, dataset.shape)
  states = []
  for i in range(num_seeds):
    c = config.copy_and_resolve_references()
    c.seed = config.seed + i
    states.append(train.create_state(c, g, d, dataset.shape))
  state = jax.tree.map(lambda *x: np.stack(x), *states) if num_seeds > 1 else states[0]
  runner = parallel.Runner(config, lambda axis: train.build_models(config, dataset.shape, axis),
                           dataset, 1, num_seeds=num_seeds if num_seeds > 1 else 0)
  state, arrays = runner.place(state), runner.place(dataset.arrays)
  state, _ = runner(state, arrays)
  jax.block_until_ready(state)
  first = time.perf_counter() - t0

  def timer(seconds: float) -> float:
    nonlocal state
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or count < min_iterations:
      state, _ = runner(state, arrays)
      count += 1
    jax.block_until_ready(state)
    return count / (time.perf_counter() - t)

  timer.info = {"gflop_per_iteration": runner.gflop(state, arrays), "first_step_s": first}
  return timer


def interleaved(timers: dict, seconds: float, rounds: int) -> dict:
  """{name: median iterations/s} of timers run in turn, ``rounds`` times each
  for ``seconds``: on a shared machine whose speed drifts, alternating keeps
  a ratio of two timers fair where one measurement each would not."""
  rates = {name: [] for name in timers}
  for _ in range(rounds):
    for name, timer in timers.items():
      rates[name].append(timer(seconds))
  return {name: float(np.median(r)) for name, r in rates.items()}


def toy_config(hidden):
  c = base.toy(base.get_base_config(), "ring8")
  c.divergence = "gan"
  c.model.hidden = tuple(hidden)
  base.set_adam(c, 2e-4, 0.5, 0.999)
  return c


def dcgan_config(batch: int):
  c = base.get_base_config()
  c.divergence = "gan"
  c.model.critic_norm = "none"
  c.train.batch_size = batch
  return c


def torch_peer():
  """experiments.torch_peer, or None (with a note) without torch."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    print("peer: torch is not installed; PyTorch figures skipped "
          "(pip install torch to compare).")
    return None
  from experiments import torch_peer as peer  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(_THREADS.value or torch.get_num_threads())
  print(f"peer: torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
  return peer


def same_losses(config, peer, g_torch, d_torch, to_torch) -> float:
  """Largest relative difference between fgan's and the peer's critic and
  generator losses on the same weights, real batch and latents."""
  import torch  # pylint: disable=import-outside-toplevel
  dataset = data.load(config.data)
  g, d = train.build_models(config, dataset.shape)
  state = train.create_state(config, g, d, dataset.shape)
  key_real, key_z = jax.random.split(jax.random.PRNGKey(1))
  real = dataset.sample(dataset.arrays, key_real, config.train.batch_size)
  z = jax.random.normal(key_z, (config.train.batch_size, config.model.z_dim))
  v = lambda x: d.apply(state.d_params, x)[:, 0]
  fake = train.generate(g, state.g_params, z, dataset.shape)
  ours = [losses.critic_loss(config.divergence, v(real), v(fake)),
          losses.generator_loss(config.divergence, v(fake), config.generator_loss)]
  g_torch.load_flax(jax.device_get(state.g_params))
  d_torch.load_flax(jax.device_get(state.d_params))
  with torch.no_grad():
    fake_t = g_torch(torch.from_numpy(np.array(z)))
    theirs = [peer.critic_loss(d_torch, to_torch(real), fake_t),
              peer.generator_loss(d_torch, fake_t)]
  return max(abs(float(a) - float(b)) / abs(float(a)) for a, b in zip(ours, theirs))


def peer_timer(label, config, peer, g_torch, d_torch, to_torch, sample_real):
  """Check equal losses (printed), then a timer of the peer's iteration."""
  diff = same_losses(config, peer, g_torch, d_torch, to_torch)
  status = "same" if diff < 1e-4 else "DIFFERENT"
  print(f"{label}: fgan and PyTorch losses on the same weights and batch: {status} "
        f"(largest relative difference {diff:.1e})", flush=True)
  trainer = peer.Trainer(g_torch, d_torch, config.model.z_dim, sample_real,
                         config.train.batch_size)
  trainer.step()  # the first iteration, outside the timing
  return lambda seconds: trainer.throughput(seconds)[0]


def report(label: str, rate: float, info: dict, peak: float | None, batch: int,
           seeds: int = 1) -> None:
  gflops = rate * info["gflop_per_iteration"]
  share = f", {100 * gflops / peak:.0f}% of peak" if peak else ""
  print(f"{label}: {rate:.2f} it/s ({seeds} seed{'s' * (seeds > 1)}), "
        f"{rate * batch * seeds:.0f} images/s, "
        f"{info['gflop_per_iteration']:.2f} GFLOP/it, {gflops:.0f} GFLOP/s{share}; "
        f"first step {info['first_step_s']:.1f} s", flush=True)


def main(argv):
  del argv
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
  peak = None
  n, secs, rounds = _SEEDS.value, _SECONDS.value, _ROUNDS.value
  if "peak" in _SECTIONS.value:
    peak = matmul_peak()
    print(f"peak: float32 matmul 2048^3: {peak:.0f} GFLOP/s", flush=True)
  peer = torch_peer()
  if "toy" in _SECTIONS.value:
    for hidden in ((512, 512, 512), (128, 128, 128)):
      c = toy_config(hidden)
      label = f"toy MLP {'x'.join(map(str, hidden))} batch 256"
      timers = {"one": train_timer(c, 1), "many": train_timer(c, n)}
      if peer:
        timers["peer"] = peer_timer(label, c, peer, peer.MLP(c.model.z_dim, hidden, 2),
                                    peer.MLP(2, hidden, 1), to_torch, peer.ring8_sampler())
      rates = interleaved(timers, secs, rounds)
      report(label, rates["one"], timers["one"].info, peak, 256)
      report(label, rates["many"], timers["many"].info, peak, 256, n)
      print(f"{label}: {n} seeds together vs one after another: "
            f"{n * rates['many'] / rates['one']:.2f}x", flush=True)
      print_peer(label, rates)
  if "dcgan" in _SECTIONS.value:
    for batch in (64, 256):
      c = dcgan_config(batch)
      label = f"DCGAN 28x28 batch {batch}"
      timers = {"one": train_timer(c, 1)}
      if peer:
        images = data.load(c.data).arrays["images"]
        timers["peer"] = peer_timer(label, c, peer, peer.DCGANGenerator(), peer.DCGANCritic(),
                                    images_to_torch, peer.image_sampler(images))
      rates = interleaved(timers, secs, rounds)
      report(label, rates["one"], timers["one"].info, peak, batch)
      print_peer(label, rates)
    # Seeds vmapped, against one seed with the default (fastest) conv_impl.
    k = min(n, 4)
    timers = {"one": train_timer(dcgan_config(64), 1)}
    for impl in ("subpixel", "matmul"):
      c = dcgan_config(64)
      c.model.conv_impl = impl
      timers[impl] = train_timer(c, k)
    rates = interleaved(timers, secs, rounds)
    for impl in ("subpixel", "matmul"):
      report(f"DCGAN 28x28 batch 64, conv_impl {impl}", rates[impl], timers[impl].info,
             peak, 64, k)
      print(f"DCGAN batch 64, conv_impl {impl}: {k} seeds together vs one after another: "
            f"{k * rates[impl] / rates['one']:.2f}x", flush=True)


def to_torch(x):
  import torch  # pylint: disable=import-outside-toplevel
  return torch.from_numpy(np.array(x))


def images_to_torch(x):
  """NHWC (fgan) to NCHW (PyTorch)."""
  return to_torch(x).permute(0, 3, 1, 2).contiguous()


def print_peer(label: str, rates: dict) -> None:
  if "peer" in rates:
    print(f"{label}: PyTorch eager {rates['peer']:.2f} it/s; fgan / PyTorch = "
          f"{rates['one'] / rates['peer']:.2f}x", flush=True)


if __name__ == "__main__":
  app.run(main)
