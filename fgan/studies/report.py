"""A study's tables and figures, rebuilt from its record alone
(fgan.studies.record).

Writes into the results directory:

  results.csv   variant, divergence, n, failed, then <metric>_mean, <metric>_std
  results.md    mean ± std (n) per variant and evaluation metric, ranked,
                with the seeds, data checksums, versions, machines, commits
                and evaluation protocol
  results.tex   the same table for papers (booktabs)
  curves.png    each evaluation metric against training steps, one line per
                variant with a band of ± one std over seeds
  samples.png   the final sample grid of each variant's first seed side by
                side (where the members' work directories are at hand)

Std is the sample standard deviation over seeds (ddof 1; 0 when n = 1).
Rows are ranked by the registered metrics' precedence
(fgan.evaluation.metrics.ranking).
"""

from __future__ import annotations

import csv
import math
import pathlib

import numpy as np

from fgan.evaluation import metrics as metrics_lib
from fgan.studies import record


def collect(lines: list[dict]) -> dict:
  """The record's lines by variant.

  Args:
    lines: record lines.

  Returns:
    {variant: {"divergence", "runs": [finished lines], "failed": [seeds]}},
    variants in order of first appearance.
  """
  out = {}
  for line in lines:
    entry = out.setdefault(line["variant"], {"divergence": line["divergence"], "runs": [],
                                             "failed": []})
    if line["status"] == "finished":
      entry["runs"].append(line)
    else:
      entry["failed"].append(line["seed"])
  return out


def _evaluated(line: dict) -> dict:
  return {k: v for k, v in line["final"].items()
          if not k.endswith(("_stderr", "_std")) and isinstance(v, (int, float))}


def aggregate(collected: dict) -> tuple[list[str], list[dict]]:
  """Mean, std and n per variant and metric.

  Args:
    collected: ``collect``'s result.

  Returns:
    (metric names, one row per variant), rows ranked.
  """
  present = {k for v in collected.values() for r in v["runs"] for k in _evaluated(r)}
  ranking = [(m, hi) for m, hi in metrics_lib.ranking() if m in present]
  metrics = [m for m, _ in ranking] + sorted(present - {m for m, _ in ranking})
  rows = []
  for name, v in collected.items():
    row = {"variant": name, "divergence": v["divergence"], "n": len(v["runs"]),
           "failed": len(v["failed"])}
    for m in metrics:
      xs = np.array([_evaluated(r)[m] for r in v["runs"] if m in _evaluated(r)], np.float64)
      row[f"{m}_mean"] = float(xs.mean()) if len(xs) else math.nan
      row[f"{m}_std"] = float(xs.std(ddof=1)) if len(xs) > 1 else 0.0 if len(xs) else math.nan
    rows.append(row)

  def rank_key(row):
    return tuple((-1 if hi else 1) * np.nan_to_num(row[f"{m}_mean"], nan=-np.inf if hi else np.inf)
                 for m, hi in ranking) + (row["variant"],)
  return metrics, sorted(rows, key=rank_key)


def _cell(row, m, digits=3):
  mean, std = row[f"{m}_mean"], row[f"{m}_std"]
  return "—" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def provenance(lines: list[dict]) -> dict:
  """What the finished members were computed with.

  Args:
    lines: record lines.

  Returns:
    {"seeds", "data_sha256", "num_steps", "protocols", "versions",
    "machines", "commits"}: each the sorted distinct values.
  """
  runs = [r for r in lines if r["status"] == "finished"]
  distinct = lambda f: sorted({f(r) for r in runs} - {None})
  return {"seeds": distinct(lambda r: r["seed"]),
          "data_sha256": distinct(lambda r: r["data_sha256"]),
          "num_steps": distinct(lambda r: r["num_steps"]),
          "protocols": distinct(lambda r: r.get("protocol")),
          "versions": distinct(lambda r: ", ".join(
              f"{k} {v}" for k, v in sorted(r["versions"].items()))),
          "machines": distinct(lambda r: "{} ({} CPU threads{})".format(
              r["machine"].get("cpu", "?"), r["machine"].get("cpu_threads", "?"),
              ", AVX-512" if r["machine"].get("avx512") else "")),
          "commits": distinct(lambda r: (r.get("commit") or {}).get("sha", "")[:10] or None)}


def markdown(metrics: list[str], rows: list[dict], prov: dict) -> str:
  """The results table and its provenance as Markdown.

  Args:
    metrics: metric names (columns).
    rows: ``aggregate``'s rows.
    prov: ``provenance``'s result.

  Returns:
    The text.
  """
  head = ["variant", "n"] + metrics
  md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    n = f"{r['n']}" + (f" ({r['failed']} diverged)" if r["failed"] else "")
    md.append("| " + " | ".join([r["variant"], n] + [_cell(r, m) for m in metrics]) + " |")
  ranked = [m for m, _ in metrics_lib.ranking() if m in metrics]
  md += ["", f"Mean ± std over seeds {prov['seeds']}; ranked by {', '.join(ranked)}. "
         f"Steps {prov['num_steps']}. Data sha256 {', '.join(prov['data_sha256'])}."]
  md += [f"Versions: {v}." for v in prov["versions"]]
  md += [f"Machine: {m}." for m in prov["machines"]]
  md.append(f"Commits: {', '.join(prov['commits']) or 'not recorded'}.")
  if len(prov["protocols"]) > 1:
    md.append("WARNING: the runs' metrics were computed under different protocols "
              "and are not comparable:")
  md += [f"Protocol: {p}." for p in prov["protocols"]]
  return "\n".join(md) + "\n"


def write_tables(results_dir, metrics: list[str], rows: list[dict], prov: dict) -> None:
  """results.csv, results.md and results.tex.

  Args:
    results_dir: the folder.
    metrics, rows: ``aggregate``'s result.
    prov: ``provenance``'s result.
  """
  results_dir = pathlib.Path(results_dir)
  with (results_dir / "results.csv").open("w", newline="") as f:
    fields = ["variant", "divergence", "n", "failed"] + [
        f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
  (results_dir / "results.md").write_text(markdown(metrics, rows, prov))
  tex_escape = lambda s: s.replace("_", r"\_").replace("=", r"$=$")
  head = ["variant", "n"] + metrics
  tex = [r"\begin{tabular}{l" + "r" * (len(metrics) + 1) + "}", r"\toprule",
         " & ".join(tex_escape(h) for h in head) + r" \\", r"\midrule"]
  for r in rows:
    cells = [tex_escape(r["variant"]), str(r["n"])] + [
        _cell(r, m).replace("±", r"$\pm$").replace("—", "--") for m in metrics]
    tex.append(" & ".join(cells) + r" \\")
  tex += [r"\bottomrule", r"\end{tabular}"]
  (results_dir / "results.tex").write_text("\n".join(tex) + "\n")


def pyplot():
  """matplotlib.pyplot on the file-only Agg backend (imported on first use).

  Returns:
    The module.
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def save_figure(fig, ax, path, title: str) -> None:
  """Title the axes, add a legend, lay out, write ``path`` and close.

  Args:
    fig, ax: the figure and its axes.
    path: the PNG file.
    title: the axes' title.
  """
  ax.set_title(title)
  ax.legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path)
  pyplot().close(fig)


def plot_curves(path, collected: dict, metrics: list[str]) -> None:
  """One panel per metric evaluated at more than one step: its mean over
  seeds against the step, per variant, with a band of ± one std.

  Args:
    path: the PNG file.
    collected: ``collect``'s result.
    metrics: the metrics to plot.
  """
  plt = pyplot()
  metrics = [m for m in metrics if any(
      sum(m in e for e in r["curves"].values()) > 1 for v in collected.values() for r in v["runs"])]
  if not metrics:
    return
  cols = min(len(metrics), 3)
  rows = max(1, -(-len(metrics) // cols))
  fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), dpi=100, squeeze=False)
  for ax in axes.flat[len(metrics):]:
    ax.axis("off")
  for ax, m in zip(axes.flat, metrics):
    for name, v in collected.items():
      series = [{int(s): e[m] for s, e in r["curves"].items() if m in e} for r in v["runs"]]
      steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
      if not steps:
        continue
      ys = np.array([[s[t] for t in steps] for s in series], np.float64)
      mean, std = ys.mean(0), ys.std(0, ddof=1) if len(ys) > 1 else np.zeros(len(steps))
      line, = ax.plot(steps, mean, label=name)
      ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("generator step")
    ax.set_title(m, fontsize=9)
  axes.flat[0].legend(fontsize=6, ncol=2)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def plot_samples(path, collected: dict, sweep_dir) -> bool:
  """The final sample grid of each variant's first seed, side by side.

  Args:
    path: the PNG file.
    collected: ``collect``'s result.
    sweep_dir: where the members' work directories are.

  Returns:
    Whether any grid was found (and the figure written).
  """
  from PIL import Image  # pylint: disable=import-outside-toplevel
  shown = [(name, pathlib.Path(sweep_dir) / name / f"seed{v['runs'][0]['seed']}" / "samples"
            / "final.png") for name, v in collected.items() if v["runs"]]
  shown = [(n, p) for n, p in shown if p.exists()]
  if not shown:
    return False
  plt = pyplot()
  cols = min(len(shown), 5)
  rows = -(-len(shown) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), dpi=100,
                           squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for ax, (name, p) in zip(axes.flat, shown):
    ax.imshow(np.asarray(Image.open(p)), cmap="gray")
    ax.set_title(name, fontsize=8)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return True


def write(results_dir, sweep_dir=None) -> list[dict]:
  """Rebuild every table and figure of a study from its record.

  Args:
    results_dir: the folder holding members.jsonl; the outputs go there.
    sweep_dir: where the members' work directories are, for samples.png
      (default ``results_dir``); a figure already there is kept when they
      are not.

  Returns:
    The table rows.

  Raises:
    FileNotFoundError: the folder holds no record.
  """
  results_dir = pathlib.Path(results_dir)
  lines = record.read(results_dir / record.RECORD)
  if not lines:
    raise FileNotFoundError(f"No study record {results_dir / record.RECORD} "
                            "(written by experiments.sweep).")
  collected = collect(lines)
  metrics, rows = aggregate(collected)
  write_tables(results_dir, metrics, rows, provenance(lines))
  plot_curves(results_dir / "curves.png", collected, metrics)
  plot_samples(results_dir / "samples.png", collected, sweep_dir or results_dir)
  return rows
