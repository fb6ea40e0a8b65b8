"""Safe writes: atomic files, result folders swapped in whole, and folders edgewise owns.

Three rules for everything edgewise writes:

* a reader never sees a half-written file (:func:`atomic_write`);
* the files of one result (an evaluation, a report, the demo) appear together or not at
  all: they are written into a temporary sibling folder that replaces the result folder
  in one step (:func:`staged_dir`);
* a folder edgewise did not make is never emptied or overwritten: folders it makes carry
  a marker file (:data:`MARKER`), and a non-empty folder without one is refused
  (:func:`claim_dir`, :func:`check_dir`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml

__all__ = ["MARKER", "atomic_write", "atomic_write_text", "atomic_write_json", "check_dir",
           "claim_dir", "folder_lock", "FolderInUseError", "LOCK", "owner_kind", "read_yaml",
           "staged_dir"]

log = logging.getLogger("edgewise")

#: Name of the file that marks a folder as made by edgewise; it holds the folder's kind
#: (``run``, ``eval``, ``score``, ``demo``, ``bench``, ``report``, ``map-cache``).
MARKER = ".edgewise"

#: Lock file of a folder one edgewise process writes at a time (a run folder); the OS
#: releases its lock when the holder dies, SIGKILL included, so it never stays stuck.
LOCK = ".edgewise.lock"

# Tests set this to a function of a write point's name (e.g. "swap:exchange") to fault
# the process there, as a kill would; None in normal use.
_FAULT_HOOK: Callable[[str], None] | None = None


def _point(name: str) -> None:
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(name)


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads; Linux
    # reports it in /proc.
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then ``os.replace`` it.

    The file gets the mode a plain ``open(path, "w")`` would give (``0o666`` less the
    umask; ``mkstemp`` creates it ``0o600``). On any error the temporary file is removed
    and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# what atomic_write's mkstemp names its temporary file: "." + name + "." + 8 random characters
_LEFTOVER = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def atomic_leftover(name: str) -> str | None:
    """The name of the file an :func:`atomic_write` was writing when its process was killed
    (SIGTERM or SIGKILL skip its clean-up), for the temporary file's ``name``; else None.

    Example: ``atomic_leftover(".provenance.json.0ee8j2z8.tmp") == "provenance.json"``.
    """
    m = _LEFTOVER.fullmatch(name)
    return m.group(1) if m else None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    # allow_nan=False: a NaN/inf would make the file unreadable by strict JSON parsers.
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


# ------------------------------------------------------------------ folder ownership
def owner_kind(folder: str | Path) -> str | None:
    """The kind written in ``folder``'s marker, or None when edgewise did not make it."""
    try:
        text = (Path(folder) / MARKER).read_text()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return (text.splitlines() or ["unknown"])[0].strip() or "unknown"


def _manifest(folder: Path) -> list[str]:
    """Paths under ``folder`` (relative, ``/``-separated), files and folders."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / n).as_posix() for n in (*dirs, *files)]
    return sorted(p for p in out if p not in (MARKER, LOCK))


def _foreign(folder: Path) -> list[str]:
    """Entries of an edgewise result folder that its marker does not list (a user's files);
    empty when the marker lists nothing (a folder that grows, such as a run folder)."""
    listed = set((folder / MARKER).read_text().splitlines()[1:])
    if not listed:
        return []
    return [p for p in _manifest(folder) if p not in listed]


def _is_empty(folder: Path) -> bool:
    return not any(p.name != LOCK for p in folder.iterdir())


def check_dir(folder: str | Path, kind: str, *, what: str = "output folder",
              adopt: Callable[[Path], bool] | None = None) -> Path:
    """Refuse ``folder`` unless edgewise may write there; create nothing.

    Allowed: a missing folder, an empty one, one whose marker says ``kind``, or one that
    ``adopt(folder)`` recognises as written by an earlier edgewise (before markers).

    Raises:
        FileExistsError: ``folder`` is a file, or a non-empty folder that edgewise did not
            make (or made for something else); the message says what to do.
    """
    folder = Path(folder)
    if not folder.exists():
        return folder
    if not folder.is_dir():
        raise FileExistsError(f"{what} {folder} is a file, not a folder: choose another path")
    found = owner_kind(folder)
    if found == kind:
        foreign = _foreign(folder)
        if not foreign:
            return folder
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileExistsError(
            f"{what} {folder} holds files edgewise did not write ({shown}); edgewise never "
            "deletes them: move them out, or choose another folder"
        )
    if _is_empty(folder) or (found is None and adopt is not None and adopt(folder)):
        return folder
    made = "was not made by edgewise" if found is None else f"is an edgewise {found} folder"
    raise FileExistsError(
        f"{what} {folder} already exists, is not empty and {made}; edgewise never "
        f"overwrites it: choose a new or empty folder (it is created for you)"
    )


def claim_dir(folder: str | Path, kind: str, *, what: str = "output folder",
              adopt: Callable[[Path], bool] | None = None) -> Path:
    """Create ``folder`` (or take an empty or own one, see :func:`check_dir`) and mark it
    as an edgewise ``kind`` folder. Returns the folder."""
    folder = check_dir(folder, kind, what=what, adopt=adopt)
    folder.mkdir(parents=True, exist_ok=True)
    if owner_kind(folder) != kind:
        atomic_write_text(folder / MARKER, kind + "\n")
    return folder


# ------------------------------------------------------------------ result folders
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Remove ``.<name>.partial-PID`` / ``.<name>.old-PID`` siblings of ``target`` left by
    a process that was killed (PID gone), if they carry edgewise's marker."""
    if not target.parent.is_dir():
        return
    for p in target.parent.glob(f".{target.name}.old-*"):
        pid = p.name.rpartition("-")[2]
        if not target.exists() and pid.isdigit() and not _alive(int(pid)) and owner_kind(p):
            log.warning("edgewise: restoring %s from %s (a replacement was interrupted)", target, p)
            os.replace(p, target)
    for tag in ("partial", "old"):
        for p in target.parent.glob(f".{target.name}.{tag}-*"):
            pid = p.name.rpartition("-")[2]
            if pid.isdigit() and not _alive(int(pid)) and p.is_dir() and _made_here(p):
                log.warning("edgewise: removing %s, left by an interrupted write (process %s)", p, pid)
                shutil.rmtree(p, ignore_errors=True)


def _made_here(folder: Path) -> bool:
    # Marked, or killed while writing its marker (the first thing written into it).
    return owner_kind(folder) is not None or all(
        p.name.startswith(f".{MARKER}.") for p in folder.iterdir())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot."""
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False


def _swap_in(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``; an old ``target`` is removed once replaced.

    A reader sees the old folder or the new one, never a mix; where the system cannot
    exchange two folders in one step, ``target`` is briefly absent instead.
    """
    if not target.exists():
        _point("swap:rename")
        os.replace(new, target)
        return
    _point("swap:exchange")
    if _exchange(new, target):
        old = new  # the exchange left the old folder under the temporary name
    else:
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        _point("swap:between")
        os.replace(new, target)
    _point("swap:cleanup")
    shutil.rmtree(old, ignore_errors=True)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def staged_dir(target: str | Path, kind: str, *, what: str = "output folder",
               adopt: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Build a result folder in a temporary sibling and swap it in at the end.

    ``target`` is checked first (:func:`check_dir`: a folder edgewise did not make is
    refused before any work); leftovers of killed earlier attempts are removed. The block
    writes into the yielded folder (``.<name>.partial-<pid>`` beside ``target``, marked as
    ``kind``); when the block succeeds it replaces ``target`` as a whole, when it raises
    it is deleted and ``target`` is left as it was.

    Raises:
        FileExistsError: ``target`` is not edgewise's to replace, or holds the current
            working folder.
    """
    target = Path(target).absolute()
    check_dir(target, kind, what=what, adopt=adopt)
    if _inside(Path.cwd().resolve(), target.resolve()):
        raise FileExistsError(
            f"{what} {target} is the current folder or holds it; edgewise replaces its "
            "output folder as a whole: choose a folder of its own, e.g. -o results"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with _sibling_lock(target, what):
        _remove_stale(target)
        partial = target.parent / f".{target.name}.partial-{os.getpid()}"
        if partial.exists() and _made_here(partial):  # a killed process that had this PID
            shutil.rmtree(partial)
        partial.mkdir()
        try:
            atomic_write_text(partial / MARKER, kind + "\n")
            yield partial
            # The marker lists what was written, so a file added later (the user's) is seen.
            atomic_write_text(partial / MARKER, "\n".join([kind, *_manifest(partial)]) + "\n")
            _swap_in(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise


def _claim_lock(fd: int, path: Path, busy: Callable[[str], str]) -> str:
    """Lock the open lock file ``fd`` (at ``path``) for this process, or raise
    :class:`FolderInUseError` with ``busy(holder's PID)``; write this PID into it and return
    what it held before (a dead holder's PID, or "").

    A lock taken on a file its holder has just removed (the path names another file, or
    none) counts as busy: the holder was still at work a moment ago.
    """
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = -1
        if current != os.fstat(fd).st_ino:
            raise BlockingIOError
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        raise FolderInUseError(busy(holder)) from None
    before = os.pread(fd, 32, 0).decode(errors="replace").strip()
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return before


@contextlib.contextmanager
def _sibling_lock(target: Path, what: str) -> Iterator[None]:
    """One process at a time builds ``target``: an OS lock on ``.<name>.lock`` beside it.

    Beside, not inside: the folder is replaced as a whole, and a lock file inside would be
    swapped out with it. The holder removes the file when done (nothing is left beside the
    result); a process that locked a file just removed sees that the path no longer names
    its file and reports the folder busy. The OS releases the lock when its holder exits,
    however it exits.
    """

    path = target.parent / f".{target.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        before = _claim_lock(fd, path, lambda holder: (
            f"{what} {target} is being written by another edgewise process (PID {holder}): "
            "wait for it to end, or write elsewhere"))
        if before:
            log.warning("edgewise: taking over %s, left by an interrupted write (process %s)", path, before)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # still holding the lock: nobody else holds this file
    finally:
        os.close(fd)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping.

    Plain YAML loaders keep the last value silently: ``max_epochs: 1`` then ``max_epochs: 7``
    trains 7 epochs, and a second ``trainer:`` section drops every key of the first.
    """


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *defaults`: keys written beside it override the merged ones
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
            seen.setdefault(key, line)
        except TypeError:  # an unhashable key: SafeLoader reports it below
            continue
        if first is not None:  # on one line too: `{max_epochs: 1, max_epochs: 7}`
            where = f"lines {first} and {line}" if first != line else f"both on line {line}"
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is written twice in one mapping ({where}); keep one",
                key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def read_yaml(text: str) -> Any:
    r"""Parse YAML as ``yaml.safe_load`` does, but a key written twice in one mapping is an
    error (``yaml.YAMLError`` naming the key and both lines) instead of the last one winning.

    Example:
        >>> read_yaml("a: 1\nb: {c: 2}")
        {'a': 1, 'b': {'c': 2}}
        >>> read_yaml("trainer:\n  max_epochs: 1\n  max_epochs: 7\n")
        Traceback (most recent call last):
        ...
        yaml.constructor.ConstructorError: key 'max_epochs' is written twice in one mapping (lines 2 and 3); keep one
        ...
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_VALUES:
            raise yaml.constructor.ConstructorError(
                None, None, f"the document expands to {size:,} values through its aliases (*name), "
                f"more than the {MAX_YAML_VALUES:,} a config may hold; write the values out",
                node.start_mark)
        return loader.construct_document(node)
    finally:
        loader.dispose()


#: Most values (scalars, lists and mappings, aliases expanded) a YAML config may hold: nine
#: nested aliases of ten items each (a "billion laughs") made `config show` and `train`
#: spin for hours in the schema's checks.
MAX_YAML_VALUES = 1_000_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values of ``node`` with every alias expanded, counted once per node (linear time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = size
    return size


# ------------------------------------------------------------------ one writer per folder
class FolderInUseError(FileExistsError):
    """Another live process holds the folder's lock (:func:`folder_lock`)."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "folder") -> Iterator[Path]:
    """Hold an exclusive OS lock on ``folder`` (its :data:`LOCK` file) while writing it.

    Two processes writing one run folder interleave their metrics and checkpoints; the
    second is refused at once with the holder's PID. The OS drops the lock when the holder
    exits, however it exits, so a killed run never leaves its folder stuck. A folder this
    call created and that is still empty when it ends is removed again (a run refused
    before writing anything leaves nothing behind). A non-empty folder edgewise did not
    make is not locked, as nothing is written into it: the caller's ownership check
    refuses it.

    Raises:
        FolderInUseError: another process holds the lock.
        FileExistsError: ``folder`` is a file.
    """

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{what} {folder} is a file, not a folder: choose another path")
    made = not folder.exists()
    if not made and owner_kind(folder) is None and not _is_empty(folder) and not (folder / LOCK).exists():
        # a folder of the user's: never write into it, not even a lock; the caller's own
        # check refuses it
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _claim_lock(fd, folder / LOCK, lambda holder: (
            f"{what} {folder} is in use by another edgewise process (PID {holder}): wait "
            "for it to end or stop it; two processes writing one folder would corrupt it"))
        yield folder
    finally:
        if made and {p.name for p in folder.iterdir()} <= {LOCK}:
            (folder / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
        os.close(fd)
