from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgewise import __version__
from edgewise.cli import COMMANDS, build_parser, main


def test_every_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_console_entry_point_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgewise", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"edgewise {__version__}"


def test_a_closed_pipe_ends_quietly() -> None:
    """`edgewise config schema | head -1`: the reader leaving early is no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write: every write fails (EPIPE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgewise", "config", "schema"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=120,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_a_full_or_read_only_disk_is_a_message_not_a_traceback(monkeypatch, capsys):
    import errno

    import edgewise.training.commands.config as config_command

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/runs/x/checkpoints/last.ckpt")

    monkeypatch.setattr(config_command, "run", full)
    assert main(["config", "schema"]) == 2
    err = capsys.readouterr().err
    assert "edgewise config: error: cannot write '/data/runs/x/checkpoints/last.ckpt': No space left on device" in err
    assert "the disk is full" in err

    def other(args):
        raise OSError(errno.ECONNRESET, "reset")

    monkeypatch.setattr(config_command, "run", other)
    with pytest.raises(ConnectionResetError):  # not a disk problem: not ours to explain
        main(["config", "schema"])


# ------------------------------------------------------- careless inputs (#25, second round)
def test_config_schema_output_into_a_folder_or_a_new_folder(tmp_path, capsys):
    """A folder was an IsADirectoryError traceback, a missing parent a FileNotFoundError one."""
    assert main(["config", "schema", "-o", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder: expected a file path such as" in capsys.readouterr().err
    out = tmp_path / "new" / "folder" / "edgewise.schema.json"
    assert main(["config", "schema", "-o", str(out)]) == 0
    assert out.read_text().startswith("{")


def test_demo_refuses_a_negative_seed_by_its_flag(capsys):
    """Was the run config's ValueError as a traceback (exit 1)."""
    assert main(["demo", "--fast", "--seed", "-1"]) == 2
    assert "edgewise demo: error: expected --seed >= 0, got -1" in capsys.readouterr().err


def test_train_resume_of_a_folder_without_a_run_says_so(tmp_path, capsys):
    """Was "config file not found: FOLDER/config.yaml"."""
    assert main(["train", "--resume", "-o", str(tmp_path / "nothere")]) == 2
    assert "cannot resume: no run in" in capsys.readouterr().err
    assert not (tmp_path / "nothere").exists()


def test_eval_refuses_negative_overlays(tmp_path, capsys):
    """Was accepted without a word (score refused it)."""
    assert main(["eval", str(tmp_path), "--overlays", "-3"]) == 2
    assert "edgewise eval: error: expected --overlays >= 0, got -3" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"garbage\n", b"PK\x03\x04" + bytes(200)])
def test_eval_names_a_corrupt_or_truncated_checkpoint(tmp_path, capsys, content):
    """Were "invalid literal for int() with base 10: 'arbage\\n'" (exit 2, no file named) and an
    OSError traceback "[Errno 22] Invalid argument" (a truncated zip)."""
    (tmp_path / "config.yaml").write_text(
        "name: t\ndata: {name: synthetic, options: {n: 2, n_val: 2, shape: [16, 16]}}\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.ckpt").write_bytes(content)
    assert main(["eval", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"cannot read checkpoint {tmp_path / 'checkpoints' / 'best.ckpt'}: " in err
    assert "(truncated, or not a checkpoint)" in err and "Traceback" not in err


def test_score_refuses_a_raw_value_mapped_twice(tmp_path, capsys):
    """`--label-map 0:0 0:1 1:1` kept 0:1 and scored everything as class 1 (exit 0); a
    --data-option's YAML mapping did the same."""
    common = ["score", str(tmp_path), "--data", "folder", "--data-root", str(tmp_path), "-o", str(tmp_path / "out")]
    assert main([*common, "--label-map", "0:0", "0:1", "1:1"]) == 2
    assert "--label-map: raw value 0 is given twice (0:0 and 0:1)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage, then the error
        main([*common, "--data-option", "label_map={0: 0, 0: 1, 1: 1}"])
    assert exit_info.value.code == 2
    assert "cannot read the value of 'label_map': key 0 is written twice" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_results_are_never_written_into_the_dataset_folder(tmp_path, capsys):
    """`score -o DATA_ROOT/out` wrote per_case.csv, summary.json and overlays into the user's
    dataset (a folder dataset globbing `**/*.png` would read the overlays as images)."""
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (tmp_path / "preds").mkdir()
    for out in (data / "results", data):
        assert main(["score", str(tmp_path / "preds"), "--data", "folder", "--data-root", str(data),
                     "-o", str(out)]) == 2
        assert f"is inside the dataset folder {data}: choose an output folder outside it" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == ["img"]
    # eval -o: inside the run's own data.root
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"name: r\ndata: {{name: folder, root: {data}, options: "
                                     "{images: 'img/*.png', labels: 'img/*.png'}}\n")
    assert main(["eval", str(run), "-o", str(data / "eval")]) == 2
    assert "is inside the dataset folder" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == ["img"]
