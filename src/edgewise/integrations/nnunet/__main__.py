"""``python -m edgewise.integrations.nnunet``: plugin folder, or an nnU-Net command that knows the edgewise trainers.

    python -m edgewise.integrations.nnunet --plugin-dir
        print the folder for ``nnUNet_extTrainer``.
    python -m edgewise.integrations.nnunet nnUNetv2_train 1 2d 0 -tr nnUNetTrainerBoundary
        run an nnU-Net console command (``nnUNetv2_train``, ``nnUNetv2_predict``, ...)
        with the edgewise trainers, then the ``nnUNet_extTrainer`` folders, searched
        before nnU-Net's own trainers. nnU-Net's lookup imports every trainer module it
        ships first, some of which need ``timm`` (and so torchvision); this route works
        on installs without them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from . import find_trainer, plugin_dir


def _patch_lookup() -> None:
    import nnunetv2.utilities.find_objects as fo
    from nnunetv2.paths import nnUNet_extTrainer
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    original = fo.recursive_find_trainer_class_by_name

    def lookup(trainer_name: str) -> type:
        cls = find_trainer(trainer_name)
        # The nnUNet_extTrainer folders come before nnU-Net's own trainers here (nnU-Net
        # searches them last), so user subclasses load without importing timm.
        if cls is None and nnUNet_extTrainer.is_set():
            for path in nnUNet_extTrainer.get().split(os.pathsep):
                if path.strip() and os.path.isdir(path):
                    cls = recursive_find_python_class(
                        path, trainer_name, None, base_folder=path,
                        cleanup_imports_from_base_folder=True,
                    )
                    if cls is not None:
                        break
        return cls if cls is not None else original(trainer_name)

    # The nnU-Net modules bind the function at import time, so patch each binding.
    import nnunetv2.inference.predict_from_raw_data as pred
    import nnunetv2.run.run_training as rt

    for mod in (fo, rt, pred):
        mod.recursive_find_trainer_class_by_name = lookup


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args[0] == "--plugin-dir":
        print(plugin_dir())
        return 0
    command = args[0]
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == command]
    if not found or not found[0].value.startswith("nnunetv2."):
        print(f"error: {command!r} is not an nnU-Net v2 console command (e.g. nnUNetv2_train)",
              file=sys.stderr)
        return 2
    _patch_lookup()
    sys.argv = [command, *args[1:]]
    result = found[0].load()()
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
