"""Python API of a training run, one module per job: :func:`train` (``trainer``), :func:`predict_cases`
(``prediction``), :func:`evaluate` (``evaluation``), and the components they share
(``components``). This module re-exports them for code written against it.

Run folder layout::

    <run_dir>/
      config.yaml               resolved configuration (every default filled in)
      metrics.csv               per-step/epoch training and validation values (CSVLogger)
      hparams.yaml
      tensorboard/              TensorBoard event files
      checkpoints/best.ckpt     best validation Dice (the latest epoch without validation)
      checkpoints/last.ckpt     end of the latest finished epoch (used by ``resume``)
      learning_curves.png       loss, validation Dice (and HD95) per epoch, drawn when train() ends
      .edgewise                 marks the folder as made by edgewise
      eval_test/                after evaluate() (eval_<split>/ for other splits,
                                external_<folder>_<split>/ for other data), replaced as a
                                whole by each evaluation:
        per_case.csv            one row per case and foreground class
        summary.json            aggregates per metric and class
        overlays/*.png          image / ground truth / prediction / errors
"""

from edgewise.training.components import (  # noqa: F401
    _MAP_KINDS,
    _check_cached_maps,
    _DropLightningChatter,
    _global_rank,
    _is_terminal,
    _size_divisor,
    _torch_threads,
    build_components,
    build_loss,
    lightning_output,
    run_dir_of,
)
from edgewise.training.evaluation import (  # noqa: F401
    METRIC_NAMES,
    SWEEP_METRICS,
    _case_metrics,
    _check_external_output,
    _fmt,
    _relative,
    _stats,
    eval_dir,
    evaluate,
    metric_names,
    tolerance_label,
)
from edgewise.training.prediction import (  # noqa: F401
    _eval_dataset,
    _predict_cases,
    _predict_run,
    load_run,
    predict_cases,
)
from edgewise.training.schema import EXTRA_METRICS  # noqa: F401
from edgewise.training.trainer import (  # noqa: F401
    _RUN_ARTEFACTS,
    _check_run_dir,
    _claim_run_dir,
    train,
)

__all__ = ["train", "evaluate", "eval_dir", "predict_cases", "build_components", "build_loss", "load_run",
           "METRIC_NAMES", "SWEEP_METRICS", "EXTRA_METRICS", "metric_names"]
