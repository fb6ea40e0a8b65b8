"""The code a bench cell ran: ``<cell>/provenance.json``.

Each cell records the code it ran (:func:`code_provenance`: the git commit of the edgewise
source tree, whether its tracked files under ``src/`` and ``pyproject.toml`` had uncommitted
changes, the edgewise version), one entry each time its training starts or resumes
(:func:`record_provenance`, called by :func:`provenance_callback`), so a cell resumed from
other code lists every commit it ran. ``edgewise report`` refuses to pool cells that ran
different or uncommitted code (:func:`code_label`).
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any, Literal

from edgewise._io import atomic_write_text

__all__ = ["PROVENANCE_FILE", "code_label", "code_provenance", "provenance_callback", "read_provenance",
           "record_provenance"]

# the code each start and resume of a cell ran: code_provenance() entries
PROVENANCE_FILE = "provenance.json"
# tracked paths (from the repository's top) whose uncommitted changes make the code differ
# from its commit; "src" is replaced by the package's own source folder's parent
_CODE_PATHS = ("pyproject.toml",)


class _GitError(Exception):
    pass


def _git(folder: Path, *args: str, strip: bool = True) -> str:
    """``git -C folder ARGS`` (no optional locks: a bench must not hold the index lock of the
    checkout it runs from); its standard output (stripped with ``strip``). Raises
    :class:`_GitError` with the reason when git is missing or fails."""
    try:
        proc = subprocess.run(["git", "--no-optional-locks", "-C", str(folder), *args],
                              capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise _GitError("git is not installed (or not on PATH)") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise _GitError(f"git could not run: {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise _GitError(f"`git {' '.join(args)}` failed in {folder}: {lines[0] if lines else proc.returncode}")
    return proc.stdout.strip() if strip else proc.stdout


def code_provenance(source: str | Path | None = None) -> dict[str, Any]:
    """The code this process runs: what a bench cell records when its training starts.

    ``commit`` is ``git rev-parse HEAD`` of the repository holding the edgewise package's
    source folder (``source``, default the imported package's folder); ``dirty`` whether
    tracked files under that folder's ``src/`` (or the package folder when it is not under
    ``src/``) or ``pyproject.toml`` differ from the commit (``git status --porcelain``,
    untracked files ignored), with the first ``changed`` paths. Where there is no git, no
    repository, or the package is an installed copy that the repository does not track,
    ``commit`` and ``dirty`` are ``None`` and ``reason`` says why; this never raises.

    Returns:
        ``{"commit", "dirty", "changed", "version", "source", "reason", "time"}``.
    """
    import edgewise

    folder = Path(source if source is not None else Path(edgewise.__file__).parent).resolve()
    record: dict[str, Any] = {
        "commit": None, "dirty": None, "changed": [], "version": getattr(edgewise, "__version__", None),
        "source": str(folder), "reason": None,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel")).resolve()
        if not _git(folder, "ls-files", "--", "__init__.py"):
            raise _GitError(f"the package at {folder} is not tracked by the git repository at {top} "
                            "(an installed copy, not the checkout)")
        commit = _git(folder, "rev-parse", "HEAD")
        code_dir = folder.parent if folder.parent.name == "src" else folder
        paths = [code_dir.relative_to(top).as_posix() or ".", *_CODE_PATHS]
        status = _git(top, "status", "--porcelain", "--untracked-files=no", "--", *paths, strip=False)
    except _GitError as exc:
        record["reason"] = str(exc)
        return record
    except ValueError as exc:  # the package folder outside the repository's top
        record["reason"] = f"cannot place {folder} in its git repository: {exc}"
        return record
    changed = [line[3:] for line in status.splitlines() if len(line) > 3]
    record.update(commit=commit, dirty=bool(changed), changed=changed[:20])
    return record


def code_label(entry: dict[str, Any] | None) -> str:
    """One entry of ``provenance.json`` as a short label: the commit, ``<commit>+dirty`` for
    uncommitted changes, ``unknown`` without a commit."""
    if not entry or not entry.get("commit"):
        return "unknown"
    return str(entry["commit"]) + ("+dirty" if entry.get("dirty") or entry.get("dirty") is None else "")


def read_provenance(run_dir: str | Path) -> list[dict[str, Any]] | None:
    """The entries of ``<run_dir>/provenance.json`` (one per start or resume, oldest first),
    or ``None`` when the cell has none (started by an edgewise that did not record it)."""
    path = Path(run_dir) / PROVENANCE_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    runs = doc.get("runs") if isinstance(doc, dict) else None
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else None


def record_provenance(run_dir: str | Path, event: Literal["start", "resume"],
                      record: dict[str, Any] | None = None) -> Path:
    """Append ``record`` (default :func:`code_provenance`) as a ``start`` or ``resume`` entry
    to ``<run_dir>/provenance.json``, written atomically; earlier entries are kept."""
    run_dir = Path(run_dir)
    entries = read_provenance(run_dir) or []
    entries.append({"event": event, **(record if record is not None else code_provenance())})
    text = json.dumps({"runs": entries}, indent=2) + "\n"
    return atomic_write_text(run_dir / PROVENANCE_FILE, text)


def provenance_callback(run_dir: Path, event: Literal["start", "resume"]) -> Any:
    """A Lightning callback that records the code when training starts: by then ``train``
    has claimed the run folder (a file written before would make it refuse the folder)."""
    import lightning.pytorch as pl

    class RecordCode(pl.Callback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.is_global_zero:
                record_provenance(run_dir, event)

    return RecordCode()
