"""How hard each loss term pushes each class at the start of training, on a real batch.

Not a speed benchmark: a diagnostic for compound losses. With uniform logits (what a freshly
initialised network roughly outputs) it computes, for every term of the config's loss and
every class channel, the gradient of the term (unweighted) on the first training batch:
its mean inside the class, its mean outside it, and its sum over the batch. A positive sum
pushes the class's probability down everywhere; a term whose summed push on a class is many
times the regional term's can drive that class out before the regional term finds it
(docs/results/acdc/README.md):

    python benchmarks/term_balance.py runs/bench/acdc_grid-cpu/.bench/acdc/gdl_bl/seed0.yaml

Overrides as for ``edgewise train`` (``key=value``), e.g. ``data.root=/path/to/acdc``.
"""

from __future__ import annotations

import argparse

import torch
import yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="a run config YAML (edgewise train --config)")
    ap.add_argument("overrides", nargs="*", help="key=value changes, as edgewise train")
    args = ap.parse_args()

    from edgewise.losses import build_loss
    from edgewise.training.components import build_components
    from edgewise.training.config import apply_overrides, validate_config

    torch.set_num_threads(1)
    with open(args.config) as f:
        cfg = validate_config(apply_overrides(yaml.safe_load(f), args.overrides))
    parts = build_components(cfg)
    dm = parts["datamodule"]
    dm.setup("fit")
    torch.manual_seed(cfg["seed"])
    batch = next(iter(dm.train_dataloader()))
    label, spacing = batch["label"], batch.get("spacing")
    n_classes = int(dm.dataset("train").num_classes)
    logits = torch.zeros(label.shape[0], n_classes, *label.shape[2:])
    print(f"batch {tuple(label.shape)}, {n_classes} classes, spacing {spacing[0].tolist() if spacing is not None else None}")
    print("\n| term | class | pixels | mean grad inside | mean grad outside | summed grad |")
    print("|---|---|---|---|---|---|")
    for term in cfg["loss"]["terms"]:
        loss = build_loss(term["name"], **(term.get("args") or {}))
        x = logits.clone().requires_grad_(True)
        kwargs = {"spacing": spacing} if spacing is not None else {}
        (grad,) = torch.autograd.grad(loss(x, label, **kwargs), x)
        for c in range(n_classes):
            inside = label[:, 0] == c
            g = grad[:, c]
            mean_in = float(g[inside].mean()) if inside.any() else float("nan")
            mean_out = float(g[~inside].mean()) if (~inside).any() else float("nan")
            print(f"| {term['name']} | {c} | {int(inside.sum())} | {mean_in:+.3g} | {mean_out:+.3g} | {float(g.sum()):+.3g} |")


if __name__ == "__main__":
    main()
