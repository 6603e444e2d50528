"""Shared pieces of fgan's experiment configs: the schema's defaults
(fgan.config.defaults, documented field by field), optimiser and WGAN-GP
settings, the toy-data settings, each divergence's recipe, and the sweep
built from a config family.

A config family is one file whose get_config(variant) gives the run of a
variant: a divergence name (fgan.divergences.names()) or "wgan_gp"
(``variant_names``), e.g. ``--config=configs/mnist.py:kl``. The family names
its recipe table (``RECIPES``); the recipes never depend on the model.
"""

import ml_collections

from fgan import config as config_lib
from fgan import divergences
from fgan import models


def get_base_config(model: str = "dcgan") -> ml_collections.ConfigDict:
  """Every field at its default (fgan.config.defaults), config.model holding
  ``model``'s fields."""
  return config_lib.defaults(model)


def set_adam(c: ml_collections.ConfigDict, learning_rate: float, b1: float,
             b2: float) -> None:
  """Adam with these settings for both the critic and the generator
  (config.optim.<net>: .name, .learning_rate, .b1, .b2; .decay kept)."""
  for net in ("critic", "generator"):
    c.optim[net].name = "adam"
    c.optim[net].learning_rate = learning_rate
    c.optim[net].b1, c.optim[net].b2 = b1, b2


def wgan_gp(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """WGAN-GP's settings (Gulrajani et al. 2017): the Wasserstein critic,
  lambda 10, n_critic 5, Adam(1e-4, betas (0, 0.9)), a critic without batch
  norm (the penalty needs per-example outputs)."""
  c.divergence = "wasserstein"
  c.gradient_penalty = 10.0
  if "critic_norm" in c.model:
    c.model.critic_norm = "none"
  c.train.n_critic = 5
  set_adam(c, 1e-4, 0.0, 0.9)
  return c


def toy(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """Toy-data settings: mixture ``name``, the WGAN-GP toy MLPs (3 x 512,
  2-D latents), batch 256, Adam(1e-4, (0.5, 0.999)), 2500 samples
  evaluated every 1000 steps."""
  c.data.name = name
  c.model = models.config("mlp")
  c.train.batch_size = 256
  c.train.num_steps = 2000
  c.train.log_every = 100
  c.eval.every_steps = 1000
  c.eval.num_samples = 2500
  c.eval.estimate_learning_rate = 1e-3
  c.checkpoint.every_steps = 1000
  set_adam(c, 1e-4, 0.5, 0.999)
  return c


def variant_names() -> tuple[str, ...]:
  """The variants a family and a sweep take: every f-divergence of the
  registry (fgan.divergences, including any registered), then "wgan_gp"
  (the Wasserstein critic with WGAN-GP's settings)."""
  return tuple(n for n in divergences.names() if not divergences.get(n).is_ipm) + ("wgan_gp",)


# What each divergence needs on top of a config to train, chosen by a
# search on seed 0 and reported on other seeds; ``with_divergence`` applies
# them, so every family member and every sweep variant gets them. A
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


def _bounded(c: float) -> dict:
  """A bounded critic, c tanh(V / c) (fgan.losses.bounded_output): T =
  g_f(V) stays a margin inside dom f*, so Neyman's F stays finite off the
  data's support and e^(V - 1) (KL) and e^V (squared Hellinger) in f*(T)
  stay bounded. With it the output penalty 1e-2 on the raw V, which keeps
  the critic out of tanh's flat tails, where no gradient reaches it again
  (a DCGAN critic at Adam 1e-3 went there within 100 steps without it)."""
  return {"critic_output_bound": c, "critic_output_penalty": 1e-2}


RECIPES = {
    # The toy densities (ring of 8, grid of 25), MLP critics.
    "toy": {
        "gan": _LOG_RATIO, "js": _LOG_RATIO, "jeffrey": _LOG_RATIO,
        "reverse_kl": _LOG_RATIO | _ROTH,
        # Neyman chi^2 = int (q - p)^2 / p charges nothing for a dropped
        # mode beyond its mass: packs of 2 (PacGAN) make dropping one cost.
        "neyman": _bounded(3.0) | {"critic_pack": 2},
        "squared_hellinger": _bounded(4.0),
        "kl": _bounded(4.0),
        # The output penalty keeps V where tanh(V)'s slope still informs
        # the generator (fgan.losses.output_penalty).
        "total_variation": {"critic_output_penalty": 1e-2},
    },
    # Images, convolutional critics with batch norm (so no gradient
    # penalty): the toy search's findings, the bounds with the
    # nonsaturating loss, whose e^-V gradients the bound caps.
    "image": {
        "reverse_kl": _LOG_RATIO, "jeffrey": _LOG_RATIO,
        "total_variation": {"critic_output_penalty": 1e-2},
        "neyman": _bounded(3.0),
        "squared_hellinger": _bounded(4.0),
        # WGAN-GP's betas at the base's rate, Adam 1e-3: at Gulrajani et
        # al.'s 1e-4 its runs are far from converged in their length.
        "wgan_gp": {"optim.critic.learning_rate": 1e-3,
                    "optim.generator.learning_rate": 1e-3},
    },
}


def with_divergence(c: ml_collections.ConfigDict, variant: str,
                    recipes: str) -> ml_collections.ConfigDict:
  """A copy of ``c`` training ``variant`` with its recipe.

  Args:
    c: the run config.
    variant: a name of ``variant_names()``; "wgan_gp" applies WGAN-GP's
      settings (``wgan_gp``) before its recipe.
    recipes: the recipe table, a key of ``RECIPES``.

  Returns:
    The new config.

  Raises:
    ValueError: an unknown variant or recipe table.
  """
  if variant not in variant_names():
    raise ValueError(f"Unknown variant {variant!r}; valid: {', '.join(variant_names())}.")
  if recipes not in RECIPES:
    raise ValueError(f"Unknown recipe table {recipes!r}; valid: {', '.join(RECIPES)}.")
  c = c.copy_and_resolve_references()
  if variant == "wgan_gp":
    c = wgan_gp(c)
  else:
    c.divergence = variant
  for field, value in RECIPES[recipes].get(variant, {}).items():
    config_lib.set_field(c, field, value)
  return c


def sngan_resnet(variant: str) -> ml_collections.ConfigDict:
  """SNGAN's ResNet (fgan.models.resnet, its widths chosen from the image
  size) trained as mimicry trains its CIFAR-10 and STL-10 rows: batch 64, 5
  critic updates per generator step, Adam(2e-4, (0, 0.9)) decayed linearly
  to 0 over 100,000 generator steps; ``variant`` with its image recipe
  (WGAN-GP: gradient penalty 10 and a critic without normalisation, as
  mimicry's wgan_gp_32.py; the f-divergences: spectral norm, as its
  sngan_32.py). Evaluated in Inception space (50,000 samples, every 10,000
  steps), checkpointed every 5,000 steps. The preset sets the data."""
  c = with_divergence(get_base_config("resnet"), variant, recipes="image")
  set_adam(c, 2e-4, 0.0, 0.9)  # for every variant (the image table's WGAN-GP rate aside)
  for net in ("critic", "generator"):
    c.optim[net].decay = "linear"
  c.train.batch_size = 64
  c.train.n_critic = 5
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.eval.feature_space = "inception"
  c.eval.num_samples = 50_000
  c.eval.every_steps = 10_000
  c.checkpoint.every_steps = 5_000
  return c


def sweep(family, seeds=(0, 1, 2), names=None) -> ml_collections.ConfigDict:
  """A sweep config (fgan.studies.sweep): variants of a config family
  crossed with ``seeds``, seeds vmapped.

  Args:
    family: get_config(variant) of a config family.
    seeds: the seeds.
    names: the variants (default: every one of ``variant_names()``).

  Returns:
    The sweep config: variants, grid ((field, (values...)), ...) crossed
    with every variant, seeds, vmap_seeds, max_seeds_together (0 = all).
  """
  s = ml_collections.ConfigDict()
  s.variants = ml_collections.ConfigDict({n: family(n) for n in names or variant_names()})
  s.grid = ()
  s.seeds = tuple(seeds)
  s.vmap_seeds = True
  s.max_seeds_together = 0
  return s
