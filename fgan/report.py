"""Sweep results from work directories alone: tables and plots.

Reads every SWEEP_DIR/<variant>/seed<s>/ (config.json, data.json, run.json,
metrics.jsonl, summary.json, samples/final.png; failed.json for members that
diverged) and writes into SWEEP_DIR:

  results.csv   variant, divergence, n, failed, then <metric>_mean, <metric>_std
  results.md    mean ± std (n) per variant and evaluation metric, ranked
  results.tex   the same table for papers (booktabs)
  results.json  the numbers plus provenance: seeds, data checksums, versions
  curves_<metric>.png   each evaluation metric against training steps, one
                line per variant with a band of ± one std over seeds
  samples.png   the final sample grid of each variant's first seed side by side

Std is the sample standard deviation over seeds (ddof 1; 0 when n = 1).
Rows are ranked by the first of RANKING present in the results.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib

import numpy as np

from fgan import writers

# (metric, higher is better), in order of precedence for ranking rows.
RANKING = (("modes_captured", True), ("high_quality_share", True),
           ("frechet_distance", False), ("confident_share", True))


def _read_json(path: pathlib.Path):
  return json.loads(path.read_text()) if path.exists() else None


def collect(sweep_dir) -> dict:
  """{variant: {"divergence", "runs": [per-seed dicts], "failed": [seeds]}}."""
  sweep_dir = pathlib.Path(sweep_dir)
  out = {}
  for config_path in sorted(sweep_dir.glob("*/seed*/config.json")):
    workdir = config_path.parent
    config = _read_json(config_path)
    entry = out.setdefault(workdir.parent.name, {
        "divergence": config["divergence"], "runs": [], "failed": []})
    summary = _read_json(workdir / "summary.json")
    if (workdir / "failed.json").exists():
      entry["failed"].append(config["seed"])
    if summary is None:
      continue
    entry["runs"].append({
        "seed": config["seed"], "workdir": str(workdir),
        "eval": {k: v for k, v in summary["eval"].items() if not k.endswith("_stderr")},
        "curves": [r for r in writers.read_metrics(workdir)
                   if any(k.startswith("eval/") for k in r)],
        "data_sha256": summary["data"]["content_sha256"],
        "protocol": protocol(summary.get("eval_info") or {}),
        "versions": (_read_json(workdir / "run.json") or {}).get("versions", {}),
        "num_steps": config["train"]["num_steps"]})
  if not out:
    raise FileNotFoundError(f"No sweep member work directories under {sweep_dir} "
                            "(expected <variant>/seed<s>/config.json).")
  return out


def protocol(eval_info: dict) -> str:
  """How a run's metrics were computed, in one line: feature space,
  extractors and their checksums, resizer, quantisation, reference split
  and its checksum, n_real, n_fake (fgan.evaluation.Evaluator.info)."""
  if "reference" not in eval_info:
    return "toy metrics" if eval_info else "no evaluation"
  parts = [f"feature space {eval_info.get('feature_space', 'classifier')}"]
  if "classifier_sha256" in eval_info:
    parts.append(f"classifier {eval_info['classifier_sha256'][:12]}")
  if "inception" in eval_info:
    i = eval_info["inception"]
    parts.append(f"Inception {i['extractor_sha256'][:12]}"
                 + ("" if i["official_weights"] else " (not the published weights)")
                 + f", {i['resizer']}, {i['quantisation']}")
  parts.append(f"reference {eval_info['reference']} {eval_info['reference_sha256'][:12]}")
  parts.append(f"n_real {eval_info.get('n_real', '?')}, n_fake "
               f"{eval_info.get('n_fake', eval_info.get('num_samples', '?'))}")
  return "; ".join(parts)


def aggregate(collected: dict) -> tuple[list[str], list[dict]]:
  """(metric names, one row per variant with mean/std/n), ranked."""
  present = {k for v in collected.values() for r in v["runs"] for k in r["eval"]}
  ranked = [m for m, _ in RANKING if m in present]
  metrics = ranked + sorted(present - set(ranked))
  rows = []
  for name, v in collected.items():
    row = {"variant": name, "divergence": v["divergence"], "n": len(v["runs"]),
           "failed": len(v["failed"])}
    for m in metrics:
      xs = np.array([r["eval"][m] for r in v["runs"] if m in r["eval"]], np.float64)
      row[f"{m}_mean"] = float(xs.mean()) if len(xs) else math.nan
      row[f"{m}_std"] = float(xs.std(ddof=1)) if len(xs) > 1 else 0.0 if len(xs) else math.nan
    rows.append(row)
  keys = [(m, hi) for m, hi in RANKING if m in metrics]

  def rank_key(row):
    return tuple((-1 if hi else 1) * np.nan_to_num(row[f"{m}_mean"], nan=-np.inf if hi else np.inf)
                 for m, hi in keys) + (row["variant"],)
  return metrics, sorted(rows, key=rank_key)


def _cell(row, m, digits=3):
  mean, std = row[f"{m}_mean"], row[f"{m}_std"]
  return "—" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def write_tables(sweep_dir, metrics: list[str], rows: list[dict], provenance: dict) -> None:
  sweep_dir = pathlib.Path(sweep_dir)
  with (sweep_dir / "results.csv").open("w", newline="") as f:
    fields = ["variant", "divergence", "n", "failed"] + [
        f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
  head = ["variant", "n"] + metrics
  md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    n = f"{r['n']}" + (f" ({r['failed']} diverged)" if r["failed"] else "")
    md.append("| " + " | ".join([r["variant"], n] + [_cell(r, m) for m in metrics]) + " |")
  md += ["", f"Mean ± std over seeds {provenance['seeds']}; ranked by "
         f"{', '.join(m for m, _ in RANKING if m in metrics)}. Data sha256 "
         f"{', '.join(provenance['data_sha256'])}; "
         + ", ".join(f"{k} {v}" for k, v in sorted(provenance["versions"].items())) + "."]
  protocols = provenance.get("protocols", [])
  if len(protocols) > 1:
    md.append("WARNING: the runs' metrics were computed under different protocols "
              "and are not comparable:")
  md += [f"Protocol: {p}." for p in protocols]
  (sweep_dir / "results.md").write_text("\n".join(md) + "\n")
  tex_escape = lambda s: s.replace("_", r"\_").replace("=", r"$=$")
  tex = [r"\begin{tabular}{l" + "r" * (len(metrics) + 1) + "}", r"\toprule",
         " & ".join(tex_escape(h) for h in head) + r" \\", r"\midrule"]
  for r in rows:
    cells = [tex_escape(r["variant"]), str(r["n"])] + [
        _cell(r, m).replace("±", r"$\pm$").replace("—", "--") for m in metrics]
    tex.append(" & ".join(cells) + r" \\")
  tex += [r"\bottomrule", r"\end{tabular}"]
  (sweep_dir / "results.tex").write_text("\n".join(tex) + "\n")


def pyplot():
  """matplotlib.pyplot on the file-only Agg backend (imported on first use)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def save_figure(fig, ax, path, title: str) -> None:
  """Title, legend, tight layout, write ``path``, close."""
  ax.set_title(title)
  ax.legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path)
  pyplot().close(fig)


def plot_curves(sweep_dir, collected: dict, metrics: list[str]) -> None:
  plt = pyplot()
  for m in metrics:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, v in collected.items():
      series = [{r["step"]: r[f"eval/{m}"] for r in run["curves"] if f"eval/{m}" in r}
                for run in v["runs"]]
      steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
      if not steps:
        continue
      ys = np.array([[s[t] for t in steps] for s in series], np.float64)
      mean, std = ys.mean(0), ys.std(0, ddof=1) if len(ys) > 1 else np.zeros(len(steps))
      line, = ax.plot(steps, mean, label=name)
      ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("generator step")
    ax.set_ylabel(m)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(pathlib.Path(sweep_dir) / f"curves_{m}.png")
    plt.close(fig)


def plot_samples(sweep_dir, collected: dict) -> None:
  plt = pyplot()
  from PIL import Image  # pylint: disable=import-outside-toplevel
  shown = [(name, pathlib.Path(v["runs"][0]["workdir"]) / "samples" / "final.png")
           for name, v in collected.items() if v["runs"]]
  shown = [(n, p) for n, p in shown if p.exists()]
  if not shown:
    return
  cols = min(len(shown), 5)
  rows = -(-len(shown) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), dpi=100,
                           squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  for ax, (name, path) in zip(axes.flat, shown):
    ax.imshow(np.asarray(Image.open(path)), cmap="gray")
    ax.set_title(name, fontsize=8)
  fig.tight_layout()
  fig.savefig(pathlib.Path(sweep_dir) / "samples.png")
  plt.close(fig)


def write(sweep_dir) -> list[dict]:
  """Rebuild every table and plot of ``sweep_dir``; return the table rows."""
  collected = collect(sweep_dir)
  metrics, rows = aggregate(collected)
  runs = [r for v in collected.values() for r in v["runs"]]
  provenance = {
      "seeds": sorted({r["seed"] for r in runs}),
      "data_sha256": sorted({r["data_sha256"] for r in runs}),
      "versions": runs[0]["versions"] if runs else {},
      "num_steps": sorted({r["num_steps"] for r in runs}),
      "protocols": sorted({r["protocol"] for r in runs})}
  write_tables(sweep_dir, metrics, rows, provenance)
  pathlib.Path(sweep_dir, "results.json").write_text(json.dumps(
      {"rows": rows, "provenance": provenance,
       "members": {n: {"seeds": [r["seed"] for r in v["runs"]], "failed": v["failed"]}
                   for n, v in collected.items()}}, indent=1))
  plot_curves(sweep_dir, collected, metrics)
  plot_samples(sweep_dir, collected)
  return rows
