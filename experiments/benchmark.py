r"""Training throughput of fgan's compiled train step, seeds vmapped or not.

  python -m experiments.benchmark [--sections=peak,toy,dcgan,budget,resnet,sndcgan,dcgan64,data]
      [--seeds=8]
      [--rounds=3] [--nopeer] [--budget_configs=js_mnist,mnist:wgan_gp]

Sections (each prints its figures; all run through fgan.parallel.Runner,
the path experiments.run and experiments.sweep use):
  peak   the device's float32 matmul rate (jax, 2048^3 products on CPUs,
         8192^3 on accelerators; at the default precision, which on NVIDIA
         GPUs computes float32 products with TF32, and also at "highest"
         there), the reference for "share of peak"
  toy    the WGAN-GP toy setup (MLP 3x512, batch 256, ring of 8; js, 1
         critic step): one seed, then N seeds trained together (vmapped) and
         the ratio of N-seed to one-seed throughput; also a 3x128 MLP, the
         sweep's toy model
  dcgan  Radford et al.'s 28x28 DCGAN at the schema's widths (critic
         without batch norm) at batch 64 and 256: iterations/s,
         images/s, GFLOP per iteration (XLA's cost analysis), share of the
         matmul peak, time to the first step; N seeds (at most 4) vmapped
         at batch 64 with conv_impl "subpixel" (the default) and "matmul"
         (the critic's convolutions as matrix products too), each against
         one seed with the default
  budget T, PyTorch eager's time for 3000 iterations of the dcgan
         section's DCGAN at batch 64 (the unit of training time that the
         configs' run times are stated in),
         and each config of --budget_configs (default: the main job and
         every variant of configs/mnist.py) timed in turn with it: its own train step
         (network, batch, critic steps, penalties, as experiments.run
         trains it), and its train.num_steps in seconds and in T
  resnet SNGAN's 32x32 ResNet (fgan.models.resnet, spectral norm) at batch
         64, 5 critic steps per generator step, Adam(2e-4, (0, 0.9)), as
         mimicry trains it, on synthetic 32x32x3 images; the peer in eager
         mode and torch.compile
  sndcgan  Miyato et al.'s standard CNN (fgan.models.sndcgan) likewise, 1
         critic step, Adam(2e-4, (0.5, 0.999))
  dcgan64  Radford et al.'s 64x64 DCGAN (z 100,
         generator 4x4x512 -> ... -> 64x64, critic with batch norm), on MNIST
         resized to 64x64 (data.resize; one channel where it has three),
         batch --batch64 (128): conv_impl "subpixel" and "xla", and PyTorch
         eager and torch.compile; meant for GPUs, slow on CPUs
  data   the dcgan section's DCGAN at batch 64 on MNIST in memory and
         streamed from the host (a 1 MiB data.in_memory_max_mb; the
         memory-mapped cache in the page cache), and the streamed reader
         alone in images/s (no peer: fgan against itself)

Each fgan timer runs the train step as experiments.run does, with
compute.steps_per_call steps per call (automatic: 1 on CPUs, 10 on
accelerators); GFLOP are those of one step (``gflop``).

Everything compared (one seed, N seeds, the peer) is timed in turn,
--rounds times for --seconds each, and the medians are printed: this shared
machine's speed drifts by 20-30% between minutes, so one measurement each
could not be compared. "N seeds together vs one after another" is the ratio (N-seed iterations/s x
N) / (one-seed iterations/s): above 1, vmapping them is faster.

The peer (when torch is installed; skipped with a note otherwise): the same
networks in PyTorch eager (experiments/torch_peer.py, --torch_threads
threads on CPUs in a forked process of its own, CUDA when fgan runs on a GPU
and torch sees one), weights
copied from fgan's, and first a check, at full float32 precision on both
sides, that both generate the same images and give the same critic outputs
on the same weights and batch. Both frameworks are then timed at their default
precision settings (printed). Both use
the standard GAN loss (fgan divergence "gan"), Adam(2e-4, (0.5, 0.999)), one
critic and one generator step per iteration.
"""

import dataclasses
import importlib
import multiprocessing
import time
import traceback
import types
import warnings

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from configs import base
from fgan import compute
from fgan import data
from fgan import loop
from fgan import models
from fgan import parallel
from fgan.rundir import provenance
from fgan import train

_SECTIONS = flags.DEFINE_list("sections", ["peak", "toy", "dcgan"],
                              "Sections to run (peak, toy, dcgan, budget, resnet, sndcgan, dcgan64, "
                              "data).")
_BUDGET_CONFIGS = flags.DEFINE_list("budget_configs", [], "Configs (names in configs/) "
                                    "the budget section times; default: every *_mnist one.")
_BATCH64 = flags.DEFINE_integer("batch64", 128, "Batch size of the dcgan64 section.")
_SEEDS = flags.DEFINE_integer("seeds", 8, "Seeds trained together in the vmapped runs.")
_SECONDS = flags.DEFINE_float("seconds", 3.0, "Timing length of each measurement.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Measurements of each timer, taken in turn "
                               "with the ones it is compared with; medians are reported.")
_THREADS = flags.DEFINE_integer("torch_threads", 0, "PyTorch threads (0 = cores).")
_PEER = flags.DEFINE_bool("peer", True, "Time PyTorch beside fgan. --nopeer times fgan "
                          "alone, with no torch in the process: for comparing jax versions "
                          "(jax 0.7.1's CPU thread pool slows a PyTorch peer beside it).")


def matmul_peak(n: int, precision: str | None = None, seconds: float = 3.0) -> float:
  """float32 GFLOP/s of an n x n x n matrix product at this precision."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  f = jax.jit(lambda a: jnp.matmul(a, a, precision=precision))
  f(a).block_until_ready()
  count, t = 0, time.perf_counter()
  while time.perf_counter() - t < seconds:
    f(a).block_until_ready()
    count += 1
  return 2 * n**3 * count / (time.perf_counter() - t) / 1e9


def gflop(compiled, state, data) -> float:
  """GFLOP of one call of ``compiled`` on arguments shaped like these, from
  XLA's cost analysis of the program compiled for the CPU, which counts every
  convolution and product, whatever the backend the run uses (a GPU
  program's convolutions are cuDNN calls that the analysis does not count);
  NaN where none is given."""
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), (state, data))
  with jax.default_device(jax.devices("cpu")[0]):
    cost = compiled.lower(*shapes).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return (cost or {}).get("flops", float("nan")) / 1e9


def train_timer(config, num_seeds: int = 1, min_iterations: int = 3, dataset=None):
  """A timer of the config's train step for ``num_seeds`` seeds (config.seed,
  config.seed + 1, ...) trained together (1: the plain step), compiled and
  run once: ``timer(seconds)`` runs it for ``seconds`` and at least
  ``min_iterations`` calls and returns iterations/s; ``timer.info`` holds
  GFLOP per step (XLA's cost analysis) and the time to the first step
  (compilation included). Calls are dispatched asynchronously, at most two
  in flight (one running while the next is dispatched). Each call runs the
  resolved compute.steps_per_call steps, as fgan.loop does, with the data
  fgan.loop.data_feed hands it (a streamed dataset: each call's batches,
  read ahead on the host); rates are per step. ``dataset``: config.data
  already loaded."""
  if dataset is None:
    dataset = data.load(config.data)
  resolved = compute.resolve(config.compute, num_seeds)
  k = resolved.steps_per_call
  t0 = time.perf_counter()
  g, d = models.build(config.model, dataset.shape, resolved.conv_impl)
  states = []
  for i in range(num_seeds):
    c = config.copy_and_resolve_references()
    c.seed = config.seed + i
    states.append(train.create_state(c, g, d, dataset.shape))
  state = jax.tree.map(lambda *x: np.stack(x), *states) if num_seeds > 1 else states[0]
  runner = parallel.Runner(config, g, d, dataset, resolved,
                           num_seeds=num_seeds if num_seeds > 1 else 0)
  calls = [(i * k, k) for i in range(10**6)]
  feed = loop.data_feed(config, dataset, config.seed, runner, calls)
  state, arrays = runner.place(state), next(feed)
  state, _ = runner(state, arrays, k)
  jax.block_until_ready(state)
  first = time.perf_counter() - t0

  def timer(seconds: float) -> float:
    nonlocal state
    count, t, previous = 0, time.perf_counter(), None
    while time.perf_counter() - t < seconds or count < min_iterations:
      state, metrics = runner(state, next(feed), k)
      # At most two calls in flight: the clock is read after the previous
      # call finished, not after its dispatch, so the timer stops within
      # one call of ``seconds`` however long a call takes.
      jax.block_until_ready(previous)
      previous = metrics
      count += 1
    jax.block_until_ready(state)
    return count * k / (time.perf_counter() - t)

  timer.info = {"gflop_per_iteration": gflop(runner.compiled(1), state, arrays),
                "first_step_s": first, "steps_per_call": k}
  return timer


def loader_timer(config, dataset):
  """A timer of a streamed dataset's host reader alone (fgan.data.stream:
  each call's indices and rows, read ahead by grain), without the step:
  ``timer(seconds)`` returns the images/s it delivers."""
  k = compute.resolve(config.compute).steps_per_call
  runner = types.SimpleNamespace(place=lambda tree: tree)  # stays on the host
  feed = loop.data_feed(config, dataset, config.seed, runner, [(i * k, k) for i in range(10**6)])
  next(feed)

  def timer(seconds: float) -> float:
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or count < 3:
      batches = next(feed)["batches"]
      count += batches.shape[0] * batches.shape[1] * batches.shape[2]
    return count / (time.perf_counter() - t)
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


def dcgan64_config(batch: int):
  """Radford et al.'s 64x64 DCGAN: z of 100, critic with batch norm."""
  c = base.get_base_config()
  c.divergence = "gan"
  c.data.resize = 64
  c.model.z_dim = 100
  c.train.batch_size = batch
  return c


class Peer:
  """experiments.torch_peer on CUDA when jax runs on a GPU and torch sees
  one, else on the CPU with --torch_threads threads, in a process of its own
  there (``forked``), so that neither framework's threads and memory are in
  the other's process while it is timed."""

  def __init__(self, torch, module):
    self.torch, self.lib = torch, module
    gpu = jax.default_backend() == "gpu" and torch.cuda.is_available()
    self.device = torch.device("cuda" if gpu else "cpu")
    if not gpu:
      torch.set_num_threads(_THREADS.value or torch.get_num_threads())
    where = (torch.cuda.get_device_name() if gpu else f"{torch.get_num_threads()} threads, "
             "in a forked process")
    print(f"peer: torch {torch.__version__} on {where}; TF32 matmul "
          f"{torch.backends.cuda.matmul.allow_tf32}, TF32 convolutions "
          f"{torch.backends.cudnn.allow_tf32} (its defaults)", flush=True)

  def tensor(self, x, images: bool = False):
    """A jax/numpy array on the peer's device; images NHWC -> NCHW."""
    t = self.torch.from_numpy(np.array(x))
    return (t.permute(0, 3, 1, 2).contiguous() if images else t).to(self.device)

  @staticmethod
  def fgan_outputs(config, dataset) -> dict:
    """fgan's side of the check, at full float32 precision: its initial
    weights, a real batch and latents, and its generated images and critic
    outputs on them (numpy)."""
    g, d = models.build(config.model, dataset.shape)
    state = train.create_state(config, g, d, dataset.shape)
    key_real, key_z = jax.random.split(jax.random.PRNGKey(1))
    with jax.default_matmul_precision("highest"):
      real = dataset.sample(dataset.arrays, key_real, config.train.batch_size)
      z = jax.random.normal(key_z, (config.train.batch_size, config.model.z_dim))
      v = lambda x: d.apply(state.d_params, x)[:, 0]
      fake = train.generate(g, state.g_params, z, dataset.shape)
      outputs = [fake, v(real), v(fake)]
    return jax.device_get({"g": state.g_params, "d": state.d_params, "real": real, "z": z,
                           "outputs": outputs})

  def same_outputs(self, ours: dict, g_torch, d_torch, images: bool) -> float:
    """Largest difference between fgan's generated images and critic outputs
    (``fgan_outputs``: on a real and the generated batch) and the peer's on
    the same weights, real batch and latents, relative to the largest
    magnitude of each, the peer also at full float32 precision (no TF32).
    Outputs, not losses: a loss that is a difference of large terms
    (sum-pooled critic outputs) cancels."""
    torch = self.torch
    g_torch.load_flax(ours["g"])
    d_torch.load_flax(ours["d"])
    g_torch.to(self.device), d_torch.to(self.device)
    normalised = [m for m in d_torch.modules() if hasattr(m, "weight_u")]
    for m in normalised:  # the stored u, v, as fgan's forward uses them
      m.eval()
    flags_ = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
      with torch.no_grad():
        fake_t = g_torch(self.tensor(ours["z"]))
        theirs = [fake_t.permute(0, 2, 3, 1) if images else fake_t,
                  d_torch(self.tensor(ours["real"], images)), d_torch(fake_t)]
    finally:
      torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags_
      for m in normalised:
        m.train()
    return max(float(np.max(np.abs(np.asarray(a).reshape(-1) - b.cpu().numpy().reshape(-1)))
                     / np.max(np.abs(np.asarray(a)))) for a, b in zip(ours["outputs"], theirs))

  def timers(self, label, config, dataset, make_nets, make_sampler, images: bool,
             compiled: bool = False) -> dict:
    """Check equal outputs (printed), then {"peer": eager timer} and with
    ``compiled`` {"compiled": torch.compile timer}, each run once; on a CPU
    they run in a forked process (``forked``). ``make_nets`` and
    ``make_sampler`` make the torch networks and the real-batch sampler
    where the peer runs."""
    ours = self.fgan_outputs(config, dataset)
    build = lambda: self._timers(label, config, ours, make_nets, make_sampler(), images, compiled)
    return build() if self.device.type == "cuda" else forked(build)

  def _timers(self, label, config, ours, make_nets, sample_real, images, compiled) -> dict:
    diff = self.same_outputs(ours, *make_nets(), images)
    status = "same" if diff < 1e-4 else "DIFFERENT"
    print(f"{label}: fgan and PyTorch outputs on the same weights and batch: {status} "
          f"(largest relative difference {diff:.1e})", flush=True)
    out = {}
    for name, compile_ in (("peer", False), ("compiled", True))[:1 + compiled]:
      t0 = time.perf_counter()
      try:
        out[name] = self._started(config, make_nets, sample_real, compile_)
      except Exception as e:  # pylint: disable=broad-except
        if not compile_:
          raise
        # torch 2.11's inductor fails an assertion on the 64x64 DCGAN's
        # channels-last convolution gradients; its layout pass is what chooses them.
        print(f"{label}: torch.compile failed ({type(e).__name__}: "
              f"{str(e).splitlines()[0][:200]}); again with "
              "torch._inductor.config.layout_optimization = False", flush=True)
        self.torch._dynamo.reset()  # pylint: disable=protected-access
        self.torch._inductor.config.layout_optimization = False  # pylint: disable=protected-access
        try:
          out[name] = self._started(config, make_nets, sample_real, compile_)
        except Exception as again:  # pylint: disable=broad-except
          # torch.nn.utils.spectral_norm updates u in place in the forward
          # pass, which AOT autograd's backward refuses.
          print(f"{label}: torch.compile failed again ({type(again).__name__}: "
                f"{str(again).splitlines()[0][:200]}); its figure is left out", flush=True)
          self.torch._dynamo.reset()  # pylint: disable=protected-access
          continue
      print(f"{label}: PyTorch {'torch.compile' if compile_ else 'eager'} first "
            f"iterations {time.perf_counter() - t0:.1f} s", flush=True)
    return out

  def _started(self, config, make_nets, sample_real, compile_: bool):
    """A trainer's throughput timer after its first iterations (compilation)."""
    g_torch, d_torch = (net.to(self.device) for net in make_nets())
    o = config.optim.critic
    trainer = self.lib.Trainer(g_torch, d_torch, config.model.z_dim, sample_real,
                               config.train.batch_size, compile=compile_, lr=o.learning_rate,
                               betas=(o.b1, o.b2), n_critic=config.train.n_critic)
    trainer.step()
    trainer.throughput(0)
    return trainer.throughput


def forked(build) -> dict:
  """``build()``'s {name: timer(seconds) -> rate}, made and run in a forked
  child process (fork: ``build`` is a closure over the section's networks
  and data, which need not be picklable; the child touches no jax): each
  returned timer asks the child to run its timer and waits for the rate, so
  the two frameworks still take turns, but neither runs in the other's
  process (threads, memory). The child is daemonic: it ends with this
  process, or when the pipe closes.

  Raises:
    RuntimeError: with the child's traceback, where ``build`` failed.
  """
  ctx = multiprocessing.get_context("fork")
  ours, theirs = ctx.Pipe()

  def serve():
    try:
      timers = build()
    except BaseException:  # pylint: disable=broad-except
      theirs.send(("error", traceback.format_exc()))
      return
    theirs.send(("ok", sorted(timers)))
    while True:
      try:
        name, seconds = theirs.recv()
      except EOFError:
        return
      theirs.send(timers[name](seconds))

  with warnings.catch_warnings():  # jax's warning that a fork may deadlock a child using jax
    warnings.filterwarnings("ignore", "os.fork")
    ctx.Process(target=serve, daemon=True).start()
  status, names = ours.recv()
  if status == "error":
    raise RuntimeError(f"the PyTorch peer failed:\n{names}")

  def remote(name):
    def timer(seconds: float) -> float:
      ours.send((name, seconds))
      return ours.recv()
    return timer
  return {name: remote(name) for name in names}


def make_peer():
  """A Peer, or None (with a note) without torch or with --nopeer."""
  if not _PEER.value:
    print("peer: --nopeer; PyTorch figures skipped.")
    return None
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    print("peer: torch is not installed; PyTorch figures skipped "
          "(pip install torch to compare).")
    return None
  from experiments import torch_peer  # pylint: disable=import-outside-toplevel
  return Peer(torch, torch_peer)


def _rate(rate: float) -> str:
  """An iterations/s figure: two decimals, three significant digits below 1
  (a ResNet step on a CPU runs 0.03 it/s)."""
  return f"{rate:.2f}" if rate >= 1 else f"{rate:.3g}"


def report(label: str, rate: float, info: dict, peak: float | None, batch: int,
           seeds: int = 1) -> None:
  gflops = rate * info["gflop_per_iteration"]
  share = f", {100 * gflops / peak:.0f}% of peak" if peak else ""
  print(f"{label}: {_rate(rate)} it/s ({seeds} seed{'s' * (seeds > 1)}), "
        f"{rate * batch * seeds:.0f} images/s, "
        f"{info['gflop_per_iteration']:.2f} GFLOP/it, {gflops:.0f} GFLOP/s{share}; "
        f"first step {info['first_step_s']:.1f} s, {info['steps_per_call']} steps per call",
        flush=True)


def print_peer(label: str, rates: dict, ours: str = "one") -> None:
  for name, what in (("peer", "PyTorch eager"), ("compiled", "PyTorch torch.compile")):
    if name in rates:
      print(f"{label}: {what} {_rate(rates[name])} it/s; fgan / {what} = "
            f"{rates[ours] / rates[name]:.2f}x", flush=True)


def mnist_configs() -> list[str]:
  """The MNIST run configs the budget section times by default: the main
  job and every variant of the MNIST family ("mnist:<variant>")."""
  return ["js_mnist"] + [f"mnist:{v}" for v in base.variant_names()]


def load_config(name: str):
  """A run config by name: "js_mnist" (configs/js_mnist.py) or
  "family:variant" (configs/family.py's get_config(variant))."""
  module, *argument = name.split(":", 1)
  return importlib.import_module(f"configs.{module}").get_config(*argument)


@dataclasses.dataclass
class Context:
  """What the sections share: the measurement settings, the matmul peak
  (once measured) and the PyTorch peer (or None)."""
  seeds: int
  seconds: float
  rounds: int
  peak: float | None
  peer: "Peer | None"


def section_peak(ctx: Context) -> None:
  """The device's float32 matmul rate, at the default precision (and at
  "highest" off CPUs)."""
  size = 2048 if jax.default_backend() == "cpu" else 8192
  ctx.peak = matmul_peak(size)
  print(f"peak: float32 matmul {size}^3, default precision: {ctx.peak:.0f} GFLOP/s", flush=True)
  if jax.default_backend() != "cpu":
    print(f"peak: float32 matmul {size}^3, precision highest: "
          f"{matmul_peak(size, 'highest'):.0f} GFLOP/s", flush=True)


def section_toy(ctx: Context) -> None:
  """The WGAN-GP toy MLP and the sweep's, one seed and N vmapped, and the
  peer."""
  peer, n = ctx.peer, ctx.seeds
  for hidden in ((512, 512, 512), (128, 128, 128)):
    c = toy_config(hidden)
    dataset = data.load(c.data)
    label = f"toy MLP {'x'.join(map(str, hidden))} batch 256"
    timers = {"one": train_timer(c, 1, dataset=dataset),
              "many": train_timer(c, n, dataset=dataset)}
    if peer:
      nets = lambda c=c, hidden=hidden: (peer.lib.MLP(c.model.z_dim, hidden, 2),
                                         peer.lib.MLP(2, hidden, 1))
      timers |= peer.timers(label, c, dataset, nets,
                            lambda: peer.lib.ring8_sampler(peer.device), False)
    rates = interleaved(timers, ctx.seconds, ctx.rounds)
    report(label, rates["one"], timers["one"].info, ctx.peak, 256)
    report(label, rates["many"], timers["many"].info, ctx.peak, 256, n)
    print(f"{label}: {n} seeds together vs one after another: "
          f"{n * rates['many'] / rates['one']:.2f}x", flush=True)
    print_peer(label, rates)


def section_dcgan(ctx: Context) -> None:
  """The 28x28 DCGAN at batch 64 and 256 against the peer, and T; then
  seeds vmapped with each conv_impl against one seed."""
  peer = ctx.peer
  dataset = data.load(dcgan_config(64).data)
  sampler = lambda: peer.lib.image_sampler(dataset.arrays["images"], peer.device)
  for batch in (64, 256):
    c = dcgan_config(batch)
    label = f"DCGAN 28x28 batch {batch}"
    timers = {"one": train_timer(c, 1, dataset=dataset)}
    if peer:
      nets = lambda: (peer.lib.DCGANGenerator(), peer.lib.DCGANCritic())
      timers |= peer.timers(label, c, dataset, nets, sampler, True)
    rates = interleaved(timers, ctx.seconds, ctx.rounds)
    report(label, rates["one"], timers["one"].info, ctx.peak, batch)
    print_peer(label, rates)
    if batch == 64 and "peer" in rates:
      t = 3000 / rates["peer"]
      print(f"budget: T = {t:.0f} s (PyTorch eager, 3000 iterations of this DCGAN at "
            f"batch 64); fgan's 3000 steps at this rate: {3000 / rates['one']:.0f} s",
            flush=True)
  k = min(ctx.seeds, 4)
  timers = {"one": train_timer(dcgan_config(64), 1, dataset=dataset)}
  for impl in ("subpixel", "matmul"):
    c = dcgan_config(64)
    c.compute.conv_impl = impl
    timers[impl] = train_timer(c, k, dataset=dataset)
  rates = interleaved(timers, ctx.seconds, ctx.rounds)
  for impl in ("subpixel", "matmul"):
    report(f"DCGAN 28x28 batch 64, conv_impl {impl}", rates[impl], timers[impl].info,
           ctx.peak, 64, k)
    print(f"DCGAN batch 64, conv_impl {impl}: {k} seeds together vs one after another: "
          f"{k * rates[impl] / rates['one']:.2f}x", flush=True)


def section_budget(ctx: Context) -> None:
  """T, and each config of --budget_configs (default: ``mnist_configs``)
  timed in turn with it: its train.num_steps in seconds and in T."""
  peer = ctx.peer
  if peer is None:
    print("budget: needs the PyTorch peer for T; skipped.")
    return
  reference = dcgan_config(64)
  dataset = data.load(reference.data)
  sampler = lambda: peer.lib.image_sampler(dataset.arrays["images"], peer.device)
  nets = lambda: (peer.lib.DCGANGenerator(), peer.lib.DCGANCritic())
  timers = peer.timers("budget: DCGAN 28x28 batch 64", reference, dataset, nets, sampler, True)
  configs = {name: load_config(name) for name in _BUDGET_CONFIGS.value or mnist_configs()}
  for name, c in configs.items():
    timers[name] = train_timer(c, 1, dataset=dataset if c.data.name == "mnist" else None)
  rates = interleaved(timers, ctx.seconds, ctx.rounds)
  t = 3000 / rates["peer"]
  print(f"budget: T = {t:.0f} s (PyTorch eager {rates['peer']:.2f} it/s, 3000 iterations "
        "of the DCGAN at batch 64)", flush=True)
  for name, c in configs.items():
    seconds = c.train.num_steps / rates[name]
    print(f"budget: {name}: {rates[name]:.2f} it/s, {c.train.num_steps} steps -> "
          f"{seconds:.0f} s = {seconds / t:.2f} T", flush=True)


def section_dcgan64(ctx: Context) -> None:
  """The 64x64 DCGAN on MNIST resized, conv_impl subpixel and xla, against
  PyTorch eager and torch.compile (for GPUs)."""
  peer, batch = ctx.peer, _BATCH64.value
  label = f"DCGAN 64x64 batch {batch}"
  c = dcgan64_config(batch)
  dataset = data.load(c.data)  # resized once for every timer
  timers = {}
  for impl in ("subpixel", "xla"):
    variant = dcgan64_config(batch)
    variant.compute.conv_impl = impl
    timers[impl] = train_timer(variant, 1, dataset=dataset)
  if peer:
    sampler = lambda: peer.lib.image_sampler(dataset.arrays["images"], peer.device)
    nets = lambda: (peer.lib.DCGANGenerator(dataset.shape, 100),
                    peer.lib.DCGANCritic(dataset.shape, norm="batch"))
    timers |= peer.timers(label, c, dataset, nets, sampler, True, compiled=True)
  rates = interleaved(timers, ctx.seconds, ctx.rounds)
  for impl in ("subpixel", "xla"):
    report(f"{label}, conv_impl {impl}", rates[impl], timers[impl].info, ctx.peak, batch)
  print_peer(f"{label}, conv_impl subpixel", rates, "subpixel")


def section_data(ctx: Context) -> None:
  """The dcgan section's DCGAN at batch 64 on MNIST held in memory and
  streamed from the host (data.in_memory_max_mb below its 47 MB), timed in
  turn, and the streamed dataset's reader alone."""
  c = dcgan_config(64)
  in_memory = data.load(c.data)
  streamed_config = dcgan_config(64)
  streamed_config.data.in_memory_max_mb = 1.0
  streamed = data.load(streamed_config.data)
  assert streamed.stream is not None and in_memory.stream is None
  timers = {"memory": train_timer(c, 1, dataset=in_memory),
            "streamed": train_timer(streamed_config, 1, dataset=streamed),
            "loader": loader_timer(streamed_config, streamed)}
  rates = interleaved(timers, ctx.seconds, ctx.rounds)
  step_images = rates["streamed"] * 64
  print(f"data: DCGAN 28x28 batch 64 on MNIST: in memory {rates['memory']:.2f} it/s, "
        f"streamed {rates['streamed']:.2f} it/s = {rates['streamed'] / rates['memory']:.2f}x; "
        f"the reader alone {rates['loader']:.0f} images/s = "
        f"{rates['loader'] / step_images:.1f}x the streamed step's {step_images:.0f} images/s",
        flush=True)


def synthetic_images(side: int, n: int = 1024) -> data.Dataset:
  """n random uint8 side x side x 3 images, sampled like a dataset's (the
  networks' speed does not depend on the pixels)."""
  images = np.random.default_rng(0).integers(0, 256, (n, side, side, 3), np.uint8)
  return data.Dataset(name="synthetic", kind="images", shape=(side, side, 3),
                      arrays={"images": images},
                      sample=data.images.group_sampler(range(1), 1, n), info={})


def network_config(name: str, batch: int = 64):
  """The benchmark's config of a 32x32 SNGAN network family: the standard
  GAN loss; the ResNet as mimicry trains it (n_critic 5, Adam(2e-4, (0,
  0.9))), the standard CNN as Miyato et al.'s setting C (n_critic 1,
  Adam(2e-4, (0.5, 0.999)))."""
  c = base.get_base_config(name)
  c.divergence = "gan"
  c.data.resize = 32
  c.train.batch_size = batch
  if name == "resnet":
    c.train.n_critic = 5
    base.set_adam(c, 2e-4, 0.0, 0.9)
  else:
    base.set_adam(c, 2e-4, 0.5, 0.999)
  return c


def _network_section(ctx: Context, name: str) -> None:
  """A 32x32 SNGAN network's train step at batch 64 against PyTorch eager
  and torch.compile (the same network, torch.nn.utils.spectral_norm)."""
  peer, c = ctx.peer, network_config(name)
  dataset = synthetic_images(32)
  label = f"{name} 32x32 batch 64, n_critic {c.train.n_critic}"
  timers = {"one": train_timer(c, 1, dataset=dataset)}
  if peer:
    lib, shape = peer.lib, dataset.shape
    nets = {"resnet": lambda: (lib.ResNetGenerator(shape, c.model.z_dim),
                               lib.ResNetCritic(shape)),
            "sndcgan": lambda: (lib.SNDCGANGenerator(shape, c.model.z_dim),
                                lib.SNDCGANCritic(shape))}[name]
    sampler = lambda: lib.image_sampler(dataset.arrays["images"], peer.device)
    timers |= peer.timers(label, c, dataset, nets, sampler, True, compiled=True)
  rates = interleaved(timers, ctx.seconds, ctx.rounds)
  report(label, rates["one"], timers["one"].info, ctx.peak, 64)
  print_peer(label, rates)


SECTIONS = {"peak": section_peak, "toy": section_toy, "dcgan": section_dcgan,
            "budget": section_budget, "dcgan64": section_dcgan64, "data": section_data,
            "resnet": lambda ctx: _network_section(ctx, "resnet"),
            "sndcgan": lambda ctx: _network_section(ctx, "sndcgan")}


def main(argv):
  del argv
  unknown = sorted(set(_SECTIONS.value) - set(SECTIONS))
  if unknown:
    raise app.UsageError(f"Unknown sections {unknown}; valid: {', '.join(SECTIONS)}.")
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}; "
        f"machine {provenance.machine()}")
  ctx = Context(_SEEDS.value, _SECONDS.value, _ROUNDS.value, None, make_peer())
  for name in _SECTIONS.value:
    SECTIONS[name](ctx)


if __name__ == "__main__":
  app.run(main)
