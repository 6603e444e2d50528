"""Shared fixtures: a private data cache per test session."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _data_cache(tmp_path_factory):
  os.environ.setdefault("FGAN_DATA_DIR", str(tmp_path_factory.mktemp("fgan_data")))
  yield


def toy_config(steps=40, **overrides):
  """A small, fast toy run config (ring of 8, MLP 2x64)."""
  from configs import base
  c = base.toy(base.get_base_config(), "ring8")
  c.model.hidden = (64, 64)
  c.train.num_steps = steps
  c.train.batch_size = 64
  c.train.log_every = 10
  c.eval.every_steps = 20
  c.checkpoint.every_steps = 10
  for k, v in overrides.items():
    section, _, key = k.rpartition(".")
    (c[section] if section else c)[key] = v
  return c
