"""The f-GAN train step: a pure function (state, data) -> (state, metrics).

One step = ``n_critic`` critic updates (each on a fresh real batch and fresh
latents) minimising losses.CriticObjective (-F plus penalties; Nowozin et
al. 2016, Algorithm 1 with the alternating updates of Goodfellow et al.
2014), then one generator update with the configured generator loss.
Batches are drawn inside the step from the on-device dataset; every random
draw comes from fold_in(state.key, state.step), so a step's randomness
depends only on the seed and the step number: resuming, scanning several
steps per call, vmapping over seeds and sharding over devices all give the
same numbers.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from fgan import losses
from fgan import models
from fgan import optimizers
from fgan.models import spectral

# A run's random streams besides its steps' fold_in(key, step): each
# fold_in(PRNGKey(seed), STREAMS[name]), with data beyond any step count.
STREAMS = {"init": 2**31 - 1, "sample_grid": 2**31 - 2, "evaluation": 2**31 - 3,
           "estimation": 2**31 - 4}


def stream_key(seed: int, name: str) -> jax.Array:
  """The PRNG key of one of a run's streams besides its steps'.

  Args:
    seed: the run's seed.
    name: a key of STREAMS.

  Returns:
    fold_in(PRNGKey(seed), STREAMS[name]).
  """
  return jax.random.fold_in(jax.random.PRNGKey(seed), STREAMS[name])


@flax.struct.dataclass
class TrainState:
  """Everything a run's training carries from step to step: a pytree, so
  that the step is pure and the state is checkpointed whole.

  Attributes:
    step: the number of steps taken (int32).
    g_params, d_params: the generator's and the critic's variables (the
      critic's: "params", and "spectral" where it has spectral norm).
    g_ema_params: the generator's weight average (samples, evaluation).
    g_opt_state, d_opt_state: the optimisers' states (the critic's over its
      "params" only).
    key: the raw uint32 PRNG key of the run's seed.
    nonfinite_steps: steps whose update was rejected as non-finite.
    first_nonfinite_step: the first such step (1-based), -1 if none.
  """
  step: jax.Array
  g_params: Any
  g_ema_params: Any  # exponential moving average of g_params (samples, evaluation)
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  key: jax.Array  # raw uint32 PRNG key of the run's seed
  nonfinite_steps: jax.Array  # steps whose update was rejected as non-finite
  first_nonfinite_step: jax.Array  # the first such step (1-based), -1 if none


def critic_state(d_params) -> tuple[dict, dict]:
  """A critic's variables split for one critic update: ({"params": the
  trainable parameters}, its other collections after the update's power
  iteration: {"spectral": ...}, fgan.models.spectral; {} without).

  Args:
    d_params: the critic's variables (TrainState.d_params).

  Returns:
    (trainable, state).
  """
  trainable = {"params": d_params["params"]}
  if spectral.COLLECTION not in d_params:
    return trainable, {}
  return trainable, {spectral.COLLECTION: spectral.power_iterate(
      d_params["params"], d_params[spectral.COLLECTION])}


def create_state(config, generator, critic, data_shape) -> TrainState:
  """Initial parameters and optimiser states from config.seed.

  Args:
    config: the run config.
    generator, critic: the model's modules.
    data_shape: one example's shape.

  Returns:
    The TrainState at step 0.
  """
  kg, kd = jax.random.split(stream_key(config.seed, "init"))
  g_params = models.initialize(generator, kg, (2, config.model.z_dim))
  packed = losses.packed_shape(data_shape, config.critic_pack)  # the critic's examples
  d_params = models.initialize(critic, kd, (2,) + packed)
  g_opt, d_opt = optimizers.make(config)
  return TrainState(step=jnp.zeros((), jnp.int32), g_params=g_params,
                    g_ema_params=jax.tree.map(jnp.copy, g_params),
                    d_params=d_params, g_opt_state=g_opt.init(g_params),
                    d_opt_state=d_opt.init({"params": d_params["params"]}),
                    key=jax.random.PRNGKey(config.seed),
                    nonfinite_steps=jnp.zeros((), jnp.int32),
                    first_nonfinite_step=jnp.full((), -1, jnp.int32))


def generate(generator, g_params, z, data_shape):
  """Generator samples shaped like the data.

  Args:
    generator: the generator module.
    g_params: its parameters.
    z: (N, z_dim) latents.
    data_shape: one example's shape.

  Returns:
    (N, *data_shape) samples.
  """
  return generator.apply(g_params, z).reshape((z.shape[0],) + tuple(data_shape))


def make_train_step(config, generator, critic, dataset,
                    axis_name: str | None = None, batch_sharding=None
                    ) -> Callable[[TrainState, Any], tuple[TrainState, dict]]:
  """The pure train step for ``config``.

  Every process draws the same global batch of real data (``dataset.sample``
  returns this process's rows of it), latents and interpolation weights.
  With ``axis_name`` (pmap) each device computes its rows and gradients,
  metrics and batch-norm statistics are averaged over the axis; with
  ``batch_sharding`` (jit over a mesh) the batch is constrained to that
  sharding.

  Args:
    config: the run config.
    generator, critic: the model's modules.
    dataset: the training data (fgan.data.Dataset).
    axis_name: the pmap axis, or None.
    batch_sharding: the mesh's batch sharding, or None.

  Returns:
    step(state, data arrays) -> (state, metrics): critic_loss,
    divergence_estimate, gradient_penalty, critic_grad_norm (of the last
    critic update), generator_loss, generator_grad_norm.
  """
  objective = losses.CriticObjective.from_config(config)
  mode = config.generator_loss
  batch, z_dim, n_critic = config.train.batch_size, config.model.z_dim, config.train.n_critic
  pack = lambda x: losses.pack(x, config.critic_pack)  # the critic's examples
  shape = tuple(dataset.shape)
  g_opt, d_opt = optimizers.make(config)
  rows = _rows(batch_sharding, axis_name)

  mean_over_devices = lambda tree: tree if axis_name is None else jax.lax.pmean(tree, axis_name)
  v_of = lambda d_params, x: critic.apply(d_params, x)[:, 0]

  def critic_update(carry, key, data, progress, update):
    d_params, d_opt_state, g_params = carry
    k_real, k_z, k_gp = _update_keys(key)  # this device's rows of the global batch:
    real = pack(rows(dataset.sample(data, k_real, batch, update), already_host=True))
    z = rows(jax.random.normal(k_z, (batch, z_dim)))
    eps = rows(losses.interpolation_weights(k_gp, batch // config.critic_pack))
    fake = pack(jax.lax.stop_gradient(generate(generator, g_params, z, shape)))
    trainable, state = critic_state(d_params)
    loss_fn = lambda t: objective(lambda x: v_of({**t, **state}, x), real, fake, eps, progress)
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
    trainable, d_opt_state, grads = _apply(d_opt, mean_over_devices(grads), d_opt_state,
                                           trainable)
    metrics = {"critic_loss": loss, **aux, "critic_grad_norm": optax.global_norm(grads)}
    return ({**trainable, **state}, d_opt_state, g_params), metrics

  def step(state: TrainState, data) -> tuple[TrainState, dict]:
    k_critic, k_gen = _step_keys(state.key, state.step)
    # A Python loop, not lax.scan: XLA's CPU backend runs a scan around the
    # convolutions several times slower.
    carry = (state.d_params, state.d_opt_state, state.g_params)
    # t / T, for an annealed penalty; a constant otherwise, so that the
    # program does not depend on the run's length
    progress = state.step / config.train.num_steps if objective.anneals else 0.0
    for i, k in enumerate(jax.random.split(k_critic, n_critic)):
      carry, c_metrics = critic_update(carry, k, data, progress, i)
    d_params, d_opt_state, _ = carry
    z = rows(jax.random.normal(k_gen, (batch, z_dim)))
    g_loss_fn = lambda g: losses.generator_loss(objective.divergence, losses.bounded_output(
        v_of(d_params, pack(generate(generator, g, z, shape))), objective.output_bound), mode)
    g_loss, g_grads = jax.value_and_grad(g_loss_fn)(state.g_params)
    g_params, g_opt_state, g_grads = _apply(g_opt, mean_over_devices(g_grads),
                                            state.g_opt_state, state.g_params)
    metrics = mean_over_devices(dict(c_metrics, generator_loss=g_loss,
                                     generator_grad_norm=optax.global_norm(g_grads)))
    return _accept(state, metrics, g_params, d_params, g_opt_state, d_opt_state,
                   config.train.ema_decay), metrics

  return step


def _step_keys(key, step):
  """(the critic updates' key, the generator update's key) of a step."""
  return jax.random.split(jax.random.fold_in(key, step))


def _update_keys(key):
  """(real batch, latents, interpolation weights) keys of a critic update."""
  k_draw, k_gp = jax.random.split(key)
  k_real, k_z = jax.random.split(k_draw)
  return k_real, k_z, k_gp


def real_batch_keys(key, step: int, n_critic: int) -> jax.Array:
  """The keys from which a step's critic updates draw their real batches,
  exactly as the step derives them: what a host reading a streamed dataset
  (fgan.data.stream) computes ahead of the step.

  Args:
    key: the run's raw PRNG key (TrainState.key).
    step: the step.
    n_critic: its critic updates.

  Returns:
    (n_critic, 2) uint32 keys.
  """
  k_critic, _ = _step_keys(key, step)
  return jnp.stack([_update_keys(k)[0] for k in jax.random.split(k_critic, n_critic)])


def _apply(optimizer, grads, opt_state, params):
  """(new params, new optimiser state, grads) after one optimiser update."""
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, grads


def _rows(batch_sharding, axis_name):
  """rows(x): this device's rows of a globally drawn batch x (this
  process's rows first, unless the sampler already returned only them)."""
  process_index, process_count = jax.process_index(), jax.process_count()

  def rows(x, already_host: bool = False):
    if not already_host:
      x = x.reshape((process_count, -1) + x.shape[1:])[process_index]
    if batch_sharding is not None:
      return jax.lax.with_sharding_constraint(x, batch_sharding)
    if axis_name is None:
      return x
    n = jax.local_device_count()
    return x.reshape((n, -1) + x.shape[1:])[jax.lax.axis_index(axis_name) % n]
  return rows


def _accept(state, metrics, g_params, d_params, g_opt_state, d_opt_state, ema_decay):
  """The next state. A step whose losses, gradients or new parameters are
  not all finite is rejected: the state keeps its old parameters and counts
  the step, so a non-finite value never reaches the parameters or a
  checkpoint. The generator's weights are averaged (Yazici et al. 2019,
  "The unusual effectiveness of averaging in GAN training") with bias-free
  warm-up: decay min(ema_decay, (1 + t) / (10 + t))."""
  updated = (g_params, d_params, g_opt_state, d_opt_state)
  ok = all_finite((metrics, updated))
  g_params, d_params, g_opt_state, d_opt_state = jax.tree.map(
      lambda new, old: jnp.where(ok, new, old), updated,
      (state.g_params, state.d_params, state.g_opt_state, state.d_opt_state))
  first_bad = jnp.where(~ok & (state.first_nonfinite_step < 0), state.step + 1,
                        state.first_nonfinite_step)
  t = state.step.astype(jnp.float32)
  decay = jnp.minimum(float(ema_decay), (1.0 + t) / (10.0 + t))
  g_ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                       state.g_ema_params, g_params)
  return state.replace(step=state.step + 1, g_params=g_params, g_ema_params=g_ema,
                       d_params=d_params, g_opt_state=g_opt_state, d_opt_state=d_opt_state,
                       nonfinite_steps=state.nonfinite_steps + (~ok).astype(jnp.int32),
                       first_nonfinite_step=first_bad)


def all_finite(tree) -> jax.Array:
  """True where every floating-point leaf of ``tree`` is finite.

  Args:
    tree: a pytree.

  Returns:
    A boolean scalar.

  One reduction over the leaves concatenated: XLA's CPU backend expands
  per-leaf reductions combined afterwards into long chains of scalar
  operations, which dominate the train step's compile time.
  """
  leaves = [jnp.ravel(x) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
  return jnp.all(jnp.isfinite(jnp.concatenate(leaves)))


def multi_step(step, num_steps: int, per_step_data: bool = False):
  """``num_steps`` train steps in one call.

  Args:
    step: (state, data) -> (state, metrics).
    num_steps: steps per call.
    per_step_data: the data has a leading axis of ``num_steps`` (a streamed
      dataset's {"batches": ...}), each step taking its slice; else every
      step takes the same data.

  Returns:
    (state, data) -> (state, metrics stacked over steps): a plain call for
    1 step, jax.lax.scan otherwise.
  """
  if num_steps == 1:
    def one(state, data):
      if per_step_data:
        data = jax.tree.map(lambda x: x[0], data)
      state, metrics = step(state, data)
      return state, jax.tree.map(lambda m: m[None], metrics)
    return one

  def many(state, data):
    if per_step_data:
      return jax.lax.scan(step, state, data, length=num_steps)
    return jax.lax.scan(lambda s, _: step(s, data), state, None, length=num_steps)
  return many
