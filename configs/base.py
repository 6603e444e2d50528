"""The one config schema every fgan experiment uses; each config file starts
from ``get_base_config()`` and states only what differs. Every value is
documented where it is set. Sections: the objective (top level), data,
model, train, optim, parallel, compute (how, not what: changes no result),
eval, checkpoint.
"""

import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # every random draw of a run derives from it
  c.divergence = "js"  # a name from fgan.divergences.names()
  # "nonsaturating" | "minimax" | "log_ratio" (-E_Q[log p/q] with the
  # critic's ratio; fgan.losses.generator_loss)
  c.generator_loss = "nonsaturating"
  c.gradient_penalty = 0.0  # weight of the critic's gradient penalty; 0 = off
  # "wgan_gp": weight E[(|grad V(x_hat)| - 1)^2] on interpolates (Gulrajani
  # et al. 2017); "r1": weight/2 E_P[|grad V(x)|^2] on real data (Mescheder
  # et al. 2018).
  # "roth": weight/2 E_Q[f*''(psi) |grad psi|^2], psi = g_f(V), for every
  # f-divergence; "roth_symmetric": its form for gan and js (Roth et al.
  # 2017; fgan.losses.roth_regularizer).
  c.gradient_penalty_kind = "wgan_gp"
  # The penalty's weight at the last step over its first, reached
  # geometrically: weight * anneal^(t/T) (Roth et al.: 0.01); 1 = constant.
  c.gradient_penalty_anneal = 1.0
  # Weight of (E_P[V^2] + E_Q[V^2]) / 2 in the critic loss (Karras et al.
  # 2018's drift term; keeps a saturating critic such as total variation's
  # alive); 0 = off.
  c.critic_output_penalty = 0.0
  # Confine the critic's raw output V to (-c, c) as c tanh(V / c) in the
  # critic's and the generator's losses (fgan.losses.bounded_output): T =
  # g_f(V) then stays a margin inside dom f*, and F finite where P and Q
  # have disjoint supports (Neyman chi^2); 0 = off.
  c.critic_output_bound = 0.0
  # PacGAN's packing (Lin et al. 2018; fgan.losses.pack): the critic sees
  # this many samples, real or generated, concatenated into one example;
  # 1 = off. train.batch_size must be a multiple of it.
  c.critic_pack = 1

  c.data = ml_collections.ConfigDict()
  c.data.name = "mnist"  # "mnist" | "fashion_mnist" | "tfds:<name>" | "mixture1d" | "ring8" | "grid25"
  c.data.source = "auto"  # images: "auto" (TFDS, else offline) | "tfds" | "offline" (fgan.data.images)
  c.data.download = False  # let TFDS download (needs internet)
  c.data.tfds_data_dir = ""  # TFDS data dir ("" = TFDS's default)
  c.data.idx_dir = "/usr/share/datasets/fashion-mnist"  # Fashion-MNIST IDX folder (Debian's)
  # mixture1d's components. Sequences are tuples, which the command line can
  # set (lists it cannot): --config.data.means='(-1.0, 2.0)'.
  c.data.means = (-1.0, 2.0)
  c.data.stds = (0.5, 1.0)
  c.data.weights = (0.5, 0.5)
  # Images: the training set is split into this many groups and every batch
  # draws equally from each; a multiple of the number of hosts, which then
  # each load only their groups.
  c.data.shards = 1
  c.data.resize = 0  # images: resize to this many pixels square (bilinear); 0 = native

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"  # a name from fgan.models.names(): "dcgan" | "mlp"
  c.model.z_dim = 64  # latent size, z ~ N(0, I)
  c.model.width = 64  # DCGAN generator base width (its widest layer: width * 2^(stages - 1))
  c.model.critic_width = 64  # DCGAN critic base width (layer i: width * 2^i)
  c.model.generator_extra_convs = 0  # DCGAN: 3x3 layers at the smallest resolution; 0 = DCGAN's
  c.model.critic_extra_convs = 0  # DCGAN: 3x3 layers after the last stride-2 one; 0 = DCGAN's
  c.model.critic_norm = "batch"  # DCGAN critic: "none" | "batch" | "layer" | "spectral"
  c.model.hidden = (512, 512, 512)  # MLP hidden sizes, generator and critic

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 5000  # generator updates (what 2 T allows seed 003's DCGAN: RESULTS.md)
  c.train.batch_size = 64  # global batch, real and fake each
  c.train.n_critic = 1  # critic updates per generator update
  c.train.log_every = 50  # steps between metric records
  c.train.ema_decay = 0.999  # generator weight average for samples and evaluation; 0 = raw
  # "stop": a NaN/Inf stops the run, naming the step and the last good
  # checkpoint; "skip": reject such updates, count them, go on.
  c.train.on_nonfinite = "stop"

  c.optim = ml_collections.ConfigDict()
  # DCGAN's Adam betas (Radford et al. 2016); the rate chosen on seed 0 from
  # {2e-4 (DCGAN's), 5e-4, 1e-3} (RESULTS.md, "Main job").
  set_adam(c, 1e-3, 0.5, 0.999)

  c.parallel = ml_collections.ConfigDict()
  c.parallel.mode = "none"  # "none" | "pmap" | "mesh" (fgan.parallel)
  c.parallel.num_devices = 0  # devices the run expects; 0 = all available

  # How the numbers are computed, not which: a run resumes under other
  # values. Resolved once at the start (fgan.compute) and recorded in
  # run.json.
  c.compute = ml_collections.ConfigDict()
  # DCGAN convolutions: "subpixel" (fastest for one seed), "matmul" (every
  # convolution a matrix product: fastest for vmapped seeds), "xla" (XLA's
  # own ops); "auto": subpixel, or matmul for vmapped seeds.
  c.compute.conv_impl = "auto"
  c.compute.steps_per_call = 0  # train steps per compiled call (lax.scan); 0 = 1 on CPU, 10 elsewhere

  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 1000  # steps between sample grids and evaluations
  c.eval.metrics = True  # sample-quality metrics (fgan.evaluation); False = grids only
  c.eval.num_samples = 10_000  # samples per evaluation
  c.eval.grid_size = 8  # side of the sample grid (grid_size^2 samples)
  # Image metrics' feature space: "classifier" (fgan's MNIST / Fashion-MNIST
  # classifier, fgan.classifier) or "inception" (adds FID, Inception score
  # and KID in the FID Inception-v3's space, as torch-fidelity computes them:
  # fgan.inception; needs its weights file).
  c.eval.feature_space = "classifier"
  c.eval.inception_weights = ""  # that file; "" = $FGAN_DATA_DIR/inception/weights-inception-2015-12-05-6726825d.pth
  # At the end (with eval.metrics): independent estimates of the run's
  # divergence and of JS, each by a fresh critic trained for this many steps
  # on held-out data (fgan.evaluation.Evaluator.divergence_estimates); 0 = off.
  c.eval.estimate_steps = 1000
  c.eval.estimate_learning_rate = 2e-4  # that critic's Adam, betas (0.5, 0.999)

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every_steps = 500  # steps between checkpoints
  c.checkpoint.keep = 3  # checkpoints kept
  return c


def set_adam(c: ml_collections.ConfigDict, learning_rate: float, b1: float,
             b2: float) -> None:
  """Adam with these settings for both the critic and the generator:
  optim.<net>.name ("adam" | "rmsprop" | "sgd", fgan.optimizers),
  .learning_rate, .b1 (Adam beta1 / momentum), .b2 (Adam beta2 / RMSProp
  decay), .decay ("none" | "linear": to 0 over the run)."""
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
  c.eval.estimate_learning_rate = 1e-3
  c.checkpoint.every_steps = 1000
  set_adam(c, 1e-4, 0.5, 0.999)
  return c


# The names a sweep's variants may take: every f-divergence plus "wgan_gp".
SWEEP_DIVERGENCES = ("gan", "js", "kl", "reverse_kl", "pearson", "neyman",
                     "squared_hellinger", "jeffrey", "total_variation", "wgan_gp")


# What each divergence needs on top of a config to train, chosen by a search
# on seed 0 and reported on seeds 1 and 2 (experiments/RESULTS.md,
# "Stabilised recipes"); with_divergence applies them, so every
# configs/<divergence>_*.py file and every sweep variant gets them. A
# divergence not listed trains with the config as it is.
# "log_ratio": the generator minimises -E_Q[log r] with the critic's density
# ratio r (fgan.losses.generator_loss): for reverse KL and squared
# Hellinger the nonsaturating loss -E_Q[g_f(V)] has gradients e^-V that
# explode on generated points the critic rejects; for gan, js and Jeffrey
# it was chosen by measurement.
_LOG_RATIO = {"generator_loss": "log_ratio"}
# Roth et al.'s regulariser, gamma 1 annealed to 0.01 gamma (their schedule).
_ROTH = {"gradient_penalty": 1.0, "gradient_penalty_kind": "roth",
         "gradient_penalty_anneal": 0.01}

# A bounded critic, c tanh(V / c) (fgan.losses.bounded_output): T = g_f(V)
# stays a margin inside dom f*, so Neyman's F stays finite off the data's
# support and e^(V - 1) (KL) and e^V (squared Hellinger) in f*(T) stay
# bounded. With it the output penalty 1e-2 on the raw V, which keeps the
# critic out of tanh's flat tails, where no gradient reaches it again:
# without it the DCGAN critic at Adam 1e-3 went there within 100 steps, and
# a grid run of Neyman put V at +c on every point by step 300 (RESULTS.md,
# "Bounded critics").
def _bounded(c: float) -> dict:
  return {"critic_output_bound": c, "critic_output_penalty": 1e-2}


TOY_RECIPES = {
    "gan": _LOG_RATIO, "js": _LOG_RATIO, "jeffrey": _LOG_RATIO,
    "reverse_kl": _LOG_RATIO | _ROTH,
    # Neyman chi^2 = int (q - p)^2 / p charges nothing for a dropped mode
    # beyond its mass: packs of 2 (PacGAN) make dropping one cost.
    "neyman": _bounded(3.0) | {"critic_pack": 2},
    "squared_hellinger": _bounded(4.0),
    "kl": _bounded(4.0),
    # The output penalty keeps V where tanh(V)'s slope still informs the
    # generator (fgan.losses.output_penalty).
    "total_variation": {"critic_output_penalty": 1e-2},
}
# The toy search's findings carried over to the DCGAN (no gradient penalty:
# its critic has batch norm); measured on MNIST only where RESULTS.md says
# so.
IMAGE_RECIPES = {
    "reverse_kl": _LOG_RATIO, "jeffrey": _LOG_RATIO,
    "total_variation": {"critic_output_penalty": 1e-2},
    # The toys' bounds with the nonsaturating loss, whose e^-V gradients
    # the bound caps: seed 0 at 2000 steps, Frechet distance 94 (Neyman;
    # 241 with log_ratio) and 137 (squared Hellinger; log_ratio alone
    # reached 726 at 5000 steps on seed 1); RESULTS.md.
    "neyman": _bounded(3.0),
    "squared_hellinger": _bounded(4.0),
    # The base's rate (Adam 1e-3) with WGAN-GP's betas: at Gulrajani et
    # al.'s 1e-4 its 1500 steps are far from converged (seed 0: Frechet
    # distance 69.6 at step 1000 with 1e-3; RESULTS.md).
    "wgan_gp": {"optim.critic.learning_rate": 1e-3, "optim.generator.learning_rate": 1e-3},
}


def with_divergence(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """A copy of ``c`` training with divergence ``name`` and its recipe
  (TOY_RECIPES for MLP configs, IMAGE_RECIPES otherwise: fields, dotted
  for nested ones); "wgan_gp" applies the WGAN-GP defaults (wgan_gp above)
  before its recipe."""
  c = c.copy_and_resolve_references()
  if name == "wgan_gp":
    c = wgan_gp(c)
  else:
    c.divergence = name
  recipes = TOY_RECIPES if c.model.name == "mlp" else IMAGE_RECIPES
  for field, value in recipes.get(name, {}).items():
    *parents, key = field.split(".")  # "optim.critic.learning_rate"
    node = c
    for parent in parents:
      node = node[parent]
    node[key] = value
  return c


def sweep(run_config: ml_collections.ConfigDict, names=SWEEP_DIVERGENCES,
          seeds=(0, 1, 2)) -> ml_collections.ConfigDict:
  """A sweep config (fgan.sweep): one variant per divergence name of
  ``names`` built from ``run_config``, crossed with ``seeds``, seeds vmapped
  (at most max_seeds_together per program, 0 = all; grid: ((field,
  (values...)), ...) crossed with every variant)."""
  s = ml_collections.ConfigDict()
  s.variants = ml_collections.ConfigDict({n: with_divergence(run_config, n) for n in names})
  s.grid = ()
  s.seeds = tuple(seeds)
  s.vmap_seeds = True
  s.max_seeds_together = 0
  return s
