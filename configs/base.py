"""The one config schema every fgan experiment uses; each config file starts
from ``get_base_config()`` and states only what differs.

  seed                       int; every random draw of a run derives from it
  divergence                 a name from fgan.divergences.names()
  generator_loss             "nonsaturating" (default) | "minimax"
  gradient_penalty           weight of the critic's gradient penalty; 0 = off
  gradient_penalty_kind      "wgan_gp": lambda E[(||grad V(x_hat)|| - 1)^2] on
                             interpolates (Gulrajani et al. 2017); "r1":
                             gamma/2 E_P[||grad V(x)||^2] on real data
                             (Mescheder et al. 2018)
  critic_output_penalty      weight of (E_P[V^2] + E_Q[V^2]) / 2 in the critic
                             loss (Karras et al. 2018's drift term; keeps a
                             saturating critic such as total variation's
                             alive); 0 = off
  data.name                  "mnist" | "fashion_mnist" | "tfds:<name>" |
                             "mixture1d" | "ring8" | "grid25"
  data.source                "auto" | "tfds" | "offline" (see fgan.data.images)
  data.download              let TFDS download (needs internet)
  data.tfds_data_dir         TFDS data dir ("" = TFDS's default)
  data.idx_dir               Fashion-MNIST IDX folder (Debian's by default)
  data.means/.stds/.weights  mixture1d components
  data.resize                images: resize to resize x resize pixels
                             (bilinear, antialiased; e.g. 64 for the 64x64
                             DCGAN on MNIST); 0 = native size
  data.shards                images: the training set is split into this many
                             groups and each batch draws equally from each;
                             a multiple of the number of hosts, which then
                             each load only their groups
  model.name                 "dcgan" | "mlp"
  model.z_dim                latent size (z ~ N(0, I))
  model.width                DCGAN generator base width (its widest layer has
                             width * 2^(stages - 1) channels)
  model.critic_width         DCGAN critic base width (layers width * 2^i)
  model.generator_extra_convs  DCGAN generator: stride-1 3x3 convolution
                             layers (BN, ReLU) at its smallest resolution;
                             0 = seed 003's network
  model.critic_extra_convs   DCGAN critic: stride-1 3x3 layers after its last
                             stride-2 one; 0 = seed 003's network
  model.critic_norm          DCGAN critic: "none" | "batch" | "layer" |
                             "spectral" (Miyato et al. 2018)
  model.conv_impl            "subpixel": the generator's transposed convolutions
                             as sub-pixel matrix products, the other
                             convolutions by XLA (fastest for one seed);
                             "matmul": the others as matrix products too
                             (fastest for vmapped seeds); "xla": XLA's ops
  model.conv_chunk           DCGAN: convolutions run on chunks of at most this
                             many examples (same values; normalisation still
                             over the whole batch); 0 = automatic: 64 on CPU
                             (faster there), the whole batch elsewhere
  model.hidden               MLP hidden sizes (generator and critic)
  train.num_steps            generator updates
  train.batch_size           global batch (real and fake each)
  train.n_critic             critic updates per generator update
  train.steps_per_call       train steps per host call (jax.lax.scan);
                             0 = automatic: 1 on CPU, 10 elsewhere
  train.log_every            steps between metric records
  train.ema_decay            decay of the generator's weight average, which
                             samples and evaluations use (0 = raw weights)
  train.on_nonfinite         "stop" (default): a NaN/Inf stops the run, naming
                             the step and the last good checkpoint; "skip":
                             reject such updates, count them, go on
  optim.critic/.generator    .name ("adam" | "rmsprop" | "sgd"),
                             .learning_rate, .b1 (Adam beta1 / momentum),
                             .b2 (Adam beta2 / RMSProp decay), .decay
                             ("none" | "linear": to 0 over the run)
  parallel.mode              "none" | "pmap" | "mesh" (fgan.parallel)
  parallel.num_devices       devices the run expects; 0 = all available
  eval.every_steps           steps between sample grids (and evaluations)
  eval.metrics               compute sample-quality metrics (fgan.evaluation)
                             at those steps and at the end; False = grids only
  eval.num_samples           samples per evaluation
  eval.grid_size             side of the sample grid (grid_size^2 images)
  checkpoint.every_steps     steps between checkpoints
  checkpoint.keep            checkpoints kept
"""

import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.divergence = "js"
  c.generator_loss = "nonsaturating"
  c.gradient_penalty = 0.0
  c.gradient_penalty_kind = "wgan_gp"
  c.critic_output_penalty = 0.0

  c.data = ml_collections.ConfigDict()
  c.data.name = "mnist"
  c.data.source = "auto"
  c.data.download = False
  c.data.tfds_data_dir = ""
  c.data.idx_dir = "/usr/share/datasets/fashion-mnist"
  # Sequences are tuples, which the command line can set (lists it cannot):
  # --config.model.hidden='(128, 128)'.
  c.data.means = (-1.0, 2.0)
  c.data.stds = (0.5, 1.0)
  c.data.weights = (0.5, 0.5)
  c.data.shards = 1
  c.data.resize = 0

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"
  c.model.z_dim = 64
  c.model.width = 64
  c.model.critic_width = 64
  c.model.generator_extra_convs = 0
  c.model.critic_extra_convs = 0
  c.model.critic_norm = "batch"
  c.model.conv_impl = "subpixel"
  c.model.conv_chunk = 0
  c.model.hidden = (512, 512, 512)

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 3000
  c.train.batch_size = 64
  c.train.n_critic = 1
  c.train.steps_per_call = 0
  c.train.log_every = 50
  c.train.ema_decay = 0.999
  c.train.on_nonfinite = "stop"

  c.optim = ml_collections.ConfigDict()
  set_adam(c, 2e-4, 0.5, 0.999)  # DCGAN (seed 003)

  c.parallel = ml_collections.ConfigDict()
  c.parallel.mode = "none"
  c.parallel.num_devices = 0

  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 1000
  c.eval.metrics = True
  c.eval.num_samples = 10_000
  c.eval.grid_size = 8

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every_steps = 500
  c.checkpoint.keep = 3
  return c


def set_adam(c: ml_collections.ConfigDict, learning_rate: float, b1: float,
             b2: float) -> None:
  """Adam with these settings for both the critic and the generator."""
  for net in ("critic", "generator"):
    c.optim[net] = ml_collections.ConfigDict(
        {"name": "adam", "learning_rate": learning_rate, "b1": b1, "b2": b2,
         "decay": "none"})


def wgan_gp(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """WGAN-GP defaults (Gulrajani et al. 2017): lambda 10, n_critic 5,
  Adam(1e-4, betas (0, 0.9))."""
  c.divergence = "wasserstein"
  c.gradient_penalty = 10.0
  c.model.critic_norm = "none"  # the penalty needs per-example critic outputs
  c.train.n_critic = 5
  set_adam(c, 1e-4, 0.0, 0.9)
  return c


def toy(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """Toy-data defaults: the WGAN-GP toy MLPs (3 x 512), batch 256."""
  c.data.name = name
  c.model.name = "mlp"
  c.model.z_dim = 2
  c.train.batch_size = 256
  c.train.num_steps = 2000
  c.train.log_every = 100
  c.eval.every_steps = 1000
  c.eval.num_samples = 2500
  c.checkpoint.every_steps = 1000
  set_adam(c, 1e-4, 0.5, 0.999)
  return c


# The names a sweep's variants may take: every f-divergence plus "wgan_gp".
SWEEP_DIVERGENCES = ("gan", "js", "kl", "reverse_kl", "pearson", "neyman",
                     "squared_hellinger", "jeffrey", "total_variation", "wgan_gp")


def with_divergence(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """A copy of ``c`` training with divergence ``name``; "wgan_gp" applies
  the WGAN-GP defaults (wgan_gp above)."""
  c = c.copy_and_resolve_references()
  if name == "wgan_gp":
    return wgan_gp(c)
  c.divergence = name
  return c


def sweep(run_config: ml_collections.ConfigDict, names=SWEEP_DIVERGENCES,
          seeds=(0, 1, 2)) -> ml_collections.ConfigDict:
  """A sweep config (fgan.sweep): one variant per divergence name of
  ``names`` built from ``run_config``, crossed with ``seeds``, seeds vmapped."""
  s = ml_collections.ConfigDict()
  s.variants = ml_collections.ConfigDict({n: with_divergence(run_config, n) for n in names})
  s.grid = ()  # ((field, (values...)), ...); tuples so the command line can set them
  s.seeds = tuple(seeds)
  s.vmap_seeds = True
  s.max_seeds_together = 0
  return s
