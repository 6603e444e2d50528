"""The f-GAN train step: a pure function (state, data) -> (state, metrics).

One step = ``n_critic`` critic updates (each on a fresh real batch and fresh
latents) maximising F (Nowozin et al. 2016, Algorithm 1 with the alternating
updates of Goodfellow et al. 2014), optionally with the WGAN-GP penalty and
the output penalty (fgan.losses), then
one generator update with the configured generator loss. Batches are drawn
inside the step from the on-device dataset; every random draw comes from
fold_in(state.key, state.step), so a step's randomness depends only on the
seed and the step number: resuming, scanning several steps per call, vmapping
over seeds and sharding over devices all give the same numbers.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from fgan import divergences
from fgan import losses
from fgan import models


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  g_params: Any
  g_ema_params: Any  # exponential moving average of g_params (samples, evaluation)
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  key: jax.Array  # raw uint32 PRNG key of the run's seed
  nonfinite_steps: jax.Array  # steps whose update was rejected as non-finite
  first_nonfinite_step: jax.Array  # the first such step (1-based), -1 if none


def build_models(config, data_shape, axis_name: str | None = None):
  """(generator, critic) flax modules for the config and data shape."""
  m = config.model
  if m.name == "mlp":
    out = int(jnp.prod(jnp.asarray(data_shape)))
    return (models.MLP(hidden=tuple(m.hidden), out=out),
            models.MLP(hidden=tuple(m.hidden), out=1))
  if m.name == "dcgan":
    chunk = conv_chunk(config)
    return (models.DCGANGenerator(tuple(data_shape), m.width, m.conv_impl, axis_name, chunk,
                                  m.generator_extra_convs),
            models.DCGANCritic(tuple(data_shape), m.critic_width, m.critic_norm, axis_name,
                               m.conv_impl, chunk, m.critic_extra_convs))
  raise ValueError(f"Unknown model {m.name!r}; valid: dcgan, mlp.")


def conv_chunk(config) -> int | None:
  """Examples per convolution call (models.batch_chunked): model.conv_chunk,
  or for 0 (automatic) the whole batch (None): with conv_4x4_stride2 and
  YNNPACK off, chunks of 64 or 128 made the DCGAN step slower on CPU too
  (2.43 and 2.85 it/s at batch 256 against 3.28 whole)."""
  return config.model.conv_chunk or None


OPTIMIZERS = {
    # name: optax optimiser from (learning_rate, b1, b2)
    "adam": lambda lr, b1, b2: optax.adam(lr, b1=b1, b2=b2),
    "rmsprop": lambda lr, b1, b2: optax.rmsprop(lr, decay=b2, momentum=b1 or None),
    "sgd": lambda lr, b1, b2: optax.sgd(lr, momentum=b1 or None),
}


def make_optimizers(config):
  """(generator, critic) optimisers: config.optim.<net>.name with its
  learning_rate and b1 (Adam beta1 / momentum), b2 (Adam beta2 / RMSProp
  decay); with decay "linear" the learning rate falls linearly to 0 over
  the run's updates of that network (num_steps, times n_critic for the
  critic)."""
  def make(o, updates):
    lr = o.learning_rate
    if o.decay == "linear":
      lr = optax.linear_schedule(lr, 0.0, updates)
    return OPTIMIZERS[o.name](lr, o.b1, o.b2)
  t = config.train
  return (make(config.optim.generator, t.num_steps),
          make(config.optim.critic, t.num_steps * t.n_critic))


def create_state(config, generator, critic, data_shape) -> TrainState:
  """Initial parameters and optimiser states from config.seed."""
  key = jax.random.PRNGKey(config.seed)
  kg, kd = jax.random.split(jax.random.fold_in(key, 2**31 - 1))
  z = jnp.zeros((2, config.model.z_dim))
  g_params = generator.init(kg, z)
  d_params = critic.init(kd, jnp.zeros((2,) + tuple(data_shape)))
  g_opt, d_opt = make_optimizers(config)
  return TrainState(step=jnp.zeros((), jnp.int32), g_params=g_params,
                    g_ema_params=jax.tree.map(jnp.copy, g_params),
                    d_params=d_params, g_opt_state=g_opt.init(g_params),
                    d_opt_state=d_opt.init(d_params), key=key,
                    nonfinite_steps=jnp.zeros((), jnp.int32),
                    first_nonfinite_step=jnp.full((), -1, jnp.int32))


def generate(generator, g_params, z, data_shape):
  """Generator samples shaped like the data."""
  return generator.apply(g_params, z).reshape((z.shape[0],) + tuple(data_shape))


def make_train_step(config, generator, critic, dataset,
                    axis_name: str | None = None, batch_sharding=None
                    ) -> Callable[[TrainState, Any], tuple[TrainState, dict]]:
  """The pure train step for ``config``.

  Every process draws the same global batch of real data (``dataset.sample``
  returns this process's rows of it) and latents. With ``axis_name`` (pmap)
  each device computes its rows and gradients, metrics and batch-norm
  statistics are averaged over the axis; with ``batch_sharding`` (jit over a
  mesh) the batch is constrained to that sharding.
  """
  div = divergences.get(config.divergence)
  mode = config.generator_loss
  gp_weight = float(config.gradient_penalty)
  gp_kind = config.gradient_penalty_kind
  out_weight = float(config.critic_output_penalty)
  batch, z_dim, n_critic = config.train.batch_size, config.model.z_dim, config.train.n_critic
  shape = tuple(dataset.shape)
  ema_decay = float(config.train.ema_decay)
  g_opt, d_opt = make_optimizers(config)

  process_index, process_count = jax.process_index(), jax.process_count()

  def host_rows(x):
    """This process's rows of a globally drawn batch."""
    return x.reshape((process_count, -1) + x.shape[1:])[process_index]

  def local(x):
    """This device's rows of this process's rows."""
    if batch_sharding is not None:
      return jax.lax.with_sharding_constraint(x, batch_sharding)
    if axis_name is None:
      return x
    n = jax.local_device_count()
    return x.reshape((n, -1) + x.shape[1:])[jax.lax.axis_index(axis_name) % n]

  def mean_over_devices(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  def v_of(d_params, x):
    return critic.apply(d_params, x)[:, 0]

  def draw(key, data):
    """This device's rows of the global batch of real data and latents."""
    k_real, k_z = jax.random.split(key)
    real = local(dataset.sample(data, k_real, batch))
    z = local(host_rows(jax.random.normal(k_z, (batch, z_dim))))
    return real, z

  def step(state: TrainState, data) -> tuple[TrainState, dict]:
    def critic_update(carry, key):
      d_params, d_opt_state, g_params = carry
      k_draw, k_gp = jax.random.split(key)
      real, z = draw(k_draw, data)
      # Drawn for the global batch, like every draw: this device's rows.
      eps = local(host_rows(losses.interpolation_weights(k_gp, batch)))
      fake = jax.lax.stop_gradient(generate(generator, g_params, z, shape))

      def loss_fn(d_params):
        v_real, v_fake = v_of(d_params, real), v_of(d_params, fake)
        estimate = losses.divergence_estimate(div, v_real, v_fake)
        gp = (losses.gradient_penalty(lambda x: v_of(d_params, x), real, fake,
                                      eps, weight=gp_weight, kind=gp_kind)
              if gp_weight else jnp.zeros(()))
        loss = -estimate + gp
        if out_weight:  # off: the same computation as without the option
          loss = loss + losses.output_penalty(v_real, v_fake, out_weight)
        return loss, (estimate, gp)

      (loss, (estimate, gp)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d_params)
      grads = mean_over_devices(grads)
      updates, d_opt_state = d_opt.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = {"critic_loss": loss, "divergence_estimate": estimate,
                 "gradient_penalty": gp, "critic_grad_norm": optax.global_norm(grads)}
      return (d_params, d_opt_state, g_params), metrics

    key = jax.random.fold_in(state.key, state.step)
    k_critic, k_gen = jax.random.split(key)
    # A Python loop, not lax.scan: on XLA's CPU backend a scan around the
    # convolutions made the whole step 6x slower (measured, DCGAN batch 64).
    carry = (state.d_params, state.d_opt_state, state.g_params)
    for k in jax.random.split(k_critic, n_critic):
      carry, c_metrics = critic_update(carry, k)
    d_params, d_opt_state, _ = carry

    z = local(host_rows(jax.random.normal(k_gen, (batch, z_dim))))

    def g_loss_fn(g_params):
      v_fake = v_of(d_params, generate(generator, g_params, z, shape))
      return losses.generator_loss(div, v_fake, mode)

    g_loss, g_grads = jax.value_and_grad(g_loss_fn)(state.g_params)
    g_grads = mean_over_devices(g_grads)
    updates, g_opt_state = g_opt.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    metrics = dict(c_metrics, generator_loss=g_loss,
                   generator_grad_norm=optax.global_norm(g_grads))
    metrics = mean_over_devices(metrics)
    # A step whose losses, gradients or new parameters are not all finite is
    # rejected: the state keeps its old parameters and counts the step, so a
    # non-finite value never reaches the parameters or a checkpoint.
    updated = (g_params, d_params, g_opt_state, d_opt_state)
    ok = all_finite((metrics, updated))
    g_params, d_params, g_opt_state, d_opt_state = jax.tree.map(
        lambda new, old: jnp.where(ok, new, old), updated,
        (state.g_params, state.d_params, state.g_opt_state, state.d_opt_state))
    first_bad = jnp.where(~ok & (state.first_nonfinite_step < 0), state.step + 1,
                          state.first_nonfinite_step)
    # Generator weight averaging (Yazici et al. 2019, "The unusual
    # effectiveness of averaging in GAN training"), with bias-free warm-up:
    # decay min(ema_decay, (1 + t) / (10 + t)).
    t = state.step.astype(jnp.float32)
    decay = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))
    g_ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                         state.g_ema_params, g_params)
    new_state = state.replace(step=state.step + 1, g_params=g_params,
                              g_ema_params=g_ema,
                              d_params=d_params, g_opt_state=g_opt_state,
                              d_opt_state=d_opt_state,
                              nonfinite_steps=state.nonfinite_steps + (~ok).astype(jnp.int32),
                              first_nonfinite_step=first_bad)
    return new_state, metrics

  return step


def all_finite(tree) -> jax.Array:
  """True where every floating-point leaf of ``tree`` is finite."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
  return jnp.all(jnp.stack(leaves))


def multi_step(step, num_steps: int):
  """``num_steps`` train steps in one call: (state, data) -> (state, metrics
  stacked over steps). A plain call for 1, jax.lax.scan otherwise."""
  if num_steps == 1:
    def one(state, data):
      state, metrics = step(state, data)
      return state, jax.tree.map(lambda m: m[None], metrics)
    return one

  def many(state, data):
    return jax.lax.scan(lambda s, _: step(s, data), state, None, length=num_steps)
  return many
