r"""The background notes' demonstration: cross entropy and KL of random Q against a fixed P.

  python -m experiments.cross_entropy_vs_kl [--num_q=10] [--seed=0]

P = [0.1, 0.2, 0.3, 0.4]; each Q is uniform noise normalised to sum to 1
(numpy's default_rng(seed), so the draws are reproducible). Since
H(P, Q) = H(P) + KL(P || Q), the two curves differ by the constant
H(P) = 1.2799 nats: minimising cross entropy over Q is minimising KL. Besides
the random Q, the ten Q vectors printed in the background notes (their cross-entropy example) are shown with the values
the notes print. Writes cross_entropy_vs_kl.csv, .md and .png.
"""

import pathlib

from absl import app
from absl import flags
import numpy as np

from fgan import information
from fgan.studies import report

_OUT = flags.DEFINE_string("out", "runs/cross_entropy_vs_kl", "Output folder.")
_NUM_Q = flags.DEFINE_integer("num_q", 10, "Number of random Q.")
_SEED = flags.DEFINE_integer("seed", 0, "numpy seed of the random Q.")

P = np.array([0.1, 0.2, 0.3, 0.4])
# The notes' printed Q vectors and its printed (cross entropy, KL), 4 decimals.
NOTES_EXAMPLE = [
    ([0.5101243, 0.146313, 0.31238896, 0.03117374], 2.1880, 0.9082),
    ([0.33838008, 0.16273734, 0.07120858, 0.42767399], 1.6039, 0.3240),
    ([0.32688522, 0.23702942, 0.10110463, 0.33498072], 1.5247, 0.2448),
    ([0.02412828, 0.398413, 0.08324485, 0.49421387], 1.5842, 0.3043),
    ([0.08890244, 0.0710507, 0.36040805, 0.4796388], 1.3709, 0.0911),
    ([0.43421764, 0.19248258, 0.3207874, 0.05251238], 1.9327, 0.6529),
    ([0.42255273, 0.02616347, 0.30103667, 0.25024713], 1.7291, 0.4492),
    ([0.1938184, 0.01329389, 0.40811308, 0.38477463], 1.6791, 0.3992),
    ([0.0190635, 0.09744091, 0.52188875, 0.36160684], 1.4637, 0.1838),
    ([0.31807745, 0.15836441, 0.3358525, 0.18770564], 1.4796, 0.1997),
]


def rows(qs) -> list[dict]:
  return [{"q": [float(x) for x in q],
           "cross_entropy": float(information.cross_entropy(P, q)),
           "kl": float(information.kl_divergence(P, q))} for q in qs]


def random_qs(num_q: int, seed: int) -> np.ndarray:
  r = np.random.default_rng(seed).random((num_q, len(P)))
  return r / r.sum(1, keepdims=True)


def write(random_rows, seed_rows, out: pathlib.Path) -> None:
  out.mkdir(parents=True, exist_ok=True)
  h = float(information.entropy(P))
  with (out / "cross_entropy_vs_kl.csv").open("w") as f:
    f.write("set,index,q,cross_entropy,kl,cross_entropy_minus_kl\n")
    for name, rs in (("random", random_rows), ("notes", seed_rows)):
      for i, r in enumerate(rs, 1):
        q = " ".join(f"{x:.6f}" for x in r["q"])
        f.write(f"{name},{i},{q},{r['cross_entropy']:.6f},{r['kl']:.6f},"
                f"{r['cross_entropy'] - r['kl']:.6f}\n")
  md = ["| Q | H(P, Q) | KL(P‖Q) | the notes print |", "|---|---|---|---|"]
  for r, (_, ce, kl) in zip(seed_rows, NOTES_EXAMPLE):
    md.append(f"| [{', '.join(f'{x:.3f}' for x in r['q'])}] | {r['cross_entropy']:.4f} "
              f"| {r['kl']:.4f} | {ce:.4f}, {kl:.4f} |")
  md += ["", f"H(P) = {h:.4f} nats = H(P, Q) − KL(P‖Q) for every Q."]
  (out / "cross_entropy_vs_kl.md").write_text("\n".join(md) + "\n")

  plt = report.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
  idx = np.arange(1, len(random_rows) + 1)
  ax.plot(idx, [r["cross_entropy"] for r in random_rows], "o-", label="Cross entropy H(P, Q)")
  ax.plot(idx, [r["kl"] for r in random_rows], "o-", label="KL(P || Q)")
  ax.axhline(h, color="gray", ls=":", label=f"H(P) = {h:.4f}")
  ax.set_xlabel("Q index")
  ax.set_ylabel("nats")
  ax.grid(True)
  report.save_figure(fig, ax, out / "cross_entropy_vs_kl.png",
                     "Cross entropy vs KL divergence, P = [0.1, 0.2, 0.3, 0.4]")


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  write(rows(random_qs(_NUM_Q.value, _SEED.value)), rows([q for q, _, _ in NOTES_EXAMPLE]), out)
  print((out / "cross_entropy_vs_kl.md").read_text())


if __name__ == "__main__":
  app.run(main)
