"""SegmentationMetrics: accumulation, summary, exports, DDP (Dice/IoU are in test_overlap.py, the
one-hot converters in test_convert.py)."""

from __future__ import annotations

import csv
import json
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from edgewise.metrics import (
    SegmentationMetrics,
    hausdorff_distance,
    one_hot_from_labels,
    surface_dice,
)


def _squares(batch: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.zeros(batch, 1, 20, 20, dtype=torch.long)
    t[:, :, 5:12, 5:12] = 1
    return torch.roll(t, shift, dims=-1), t


def test_accumulate_and_summary(tmp_path):
    m = SegmentationMetrics(
        ("dice", "hd", "hd95", "assd", "nsd", "boundary_f1"),
        num_classes=2,
        include_background=False,
        tolerance=1.0,
        worst_k=2,
    )
    for shift in (0, 2, 4):
        p, t = _squares(2, shift)
        batch = m.update(p, t, case_ids=[f"s{shift}a", f"s{shift}b"])
        assert batch["hd"].shape == (2, 1)
    values = m.compute()
    assert values["hd"][:, 0].tolist() == [0, 0, 2, 2, 4, 4]
    assert m.case_ids == ["s0a", "s0b", "s2a", "s2b", "s4a", "s4b"]
    s = m.summary()
    hd = s["metrics"]["hd"]["classes"]["class_1"]
    assert hd["mean"] == pytest.approx(2.0) and hd["median"] == pytest.approx(2.0)
    assert hd["q1"] == pytest.approx(0.5) and hd["q3"] == pytest.approx(3.5)
    assert hd["std"] == pytest.approx(np.std([0, 0, 2, 2, 4, 4], ddof=1))
    assert hd["count"] == 6 and hd["finite"] == 6
    assert [w["case"] for w in hd["worst"]] == ["s4a", "s4b"]
    nsd_worst = s["metrics"]["nsd"]["classes"]["class_1"]["worst"]
    assert nsd_worst[0]["value"] < 1.0 and nsd_worst[0]["case"].startswith("s4")
    # the same values as the functional metrics
    p, t = _squares(1, 2)
    assert (
        values["hd95"][2, 0]
        == hausdorff_distance(
            one_hot_from_labels(p, 2),
            one_hot_from_labels(t, 2),
            percentile=95,
            include_background=False,
        )[0, 0]
    )

    csv_path = m.to_csv(tmp_path / "out" / "per_case.csv")
    rows = list(csv.reader(open(csv_path)))
    assert rows[0][:3] == ["case_id", "dice/class_1", "hd/class_1"]
    assert len(rows) == 7 and rows[5][0] == "s4a" and float(rows[5][2]) == 4.0
    json_path = m.to_json(tmp_path / "summary.json")
    data = json.loads(open(json_path).read())
    assert data["num_cases"] == 6 and data["options"]["surface"] == "corner"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    m.reset()
    assert m.compute()["dice"].numel() == 0


def test_missed_structure_is_not_averaged_away(tmp_path):
    m = SegmentationMetrics(("hd95", "dice", "nsd"), num_classes=2, include_background=False)
    p, t = _squares(1, 1)
    m.update(p, t, case_ids=["hit"])
    m.update(torch.zeros_like(t), t, case_ids=["miss"])
    s = m.summary()["metrics"]
    assert math.isinf(s["hd95"]["classes"]["class_1"]["mean"])
    assert s["hd95"]["classes"]["class_1"]["finite"] == 1
    assert s["nsd"]["classes"]["class_1"]["mean"] == pytest.approx(0.5)
    assert s["hd95"]["classes"]["class_1"]["worst"][0]["case"] == "miss"
    data = json.loads(open(m.to_json(tmp_path / "s.json")).read())
    assert data["metrics"]["hd95"]["classes"]["class_1"]["mean"] == "inf"
    capped = SegmentationMetrics(
        ("hd95",), num_classes=2, include_background=False, max_distance="diagonal"
    )
    capped.update(torch.zeros_like(t), t)
    assert capped.compute()["hd95"].item() == pytest.approx(math.hypot(20, 20))


def test_duplicate_case_ids_keep_first_and_errors():
    m = SegmentationMetrics(("dice",))
    p, t = _squares(1, 0)
    m.update(one_hot_from_labels(p, 2), one_hot_from_labels(t, 2), case_ids=["a"])
    m.update(one_hot_from_labels(p, 2), torch.zeros(1, 2, 20, 20), case_ids=["a"])
    assert m.case_ids == ["a"] and m.compute()["dice"].tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="metric"):
        SegmentationMetrics(("hd99",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="case_ids"):
        m.update(one_hot_from_labels(p, 2), one_hot_from_labels(t, 2), case_ids=["x", "y"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=__import__("datetime").timedelta(seconds=60)
    )
    try:
        m = SegmentationMetrics(("dice", "hd"), num_classes=2, include_background=False)
        p, t = _squares(1, rank + 1)
        m.update(p, t, case_ids=[f"case{rank}"])
        # rank 1 also sees a padded duplicate of rank 0's case
        if rank == 1:
            p0, t0 = _squares(1, 1)
            m.update(p0, t0, case_ids=["case0"])
        values = m.compute()
        # a rank that saw no case still takes part in the gather
        lonely = SegmentationMetrics(("dice",), num_classes=2, include_background=False)
        if rank == 0:
            lonely.update(p, t, case_ids=["only"])
        lonely_dice = lonely.compute()["dice"]
        torch.save(
            {"ids": m.case_ids, "hd": values["hd"], "lonely": lonely_dice},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
        m.to_csv(os.path.join(out_dir, "per_case.csv"))
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_gather_two_gloo_processes(tmp_path):
    ctx = mp.start_processes(
        _ddp_worker,
        args=(2, _free_port(), str(tmp_path)),
        nprocs=2,
        join=False,
        start_method="spawn",
    )
    for _ in range(120):
        if ctx.join(timeout=1):
            break
    else:
        for p in ctx.processes:
            p.kill()
        pytest.fail("DDP workers did not finish in time")
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["ids"] == ["case0", "case1"]
        assert got["hd"][:, 0].tolist() == [1.0, 2.0]
        assert got["lonely"].shape == (1, 1)
    rows = list(csv.reader(open(tmp_path / "per_case.csv")))
    assert [r[0] for r in rows[1:]] == ["case0", "case1"]


def test_surface_dice_per_class_tolerance():
    p, t = _squares(1, 2)
    p, t = one_hot_from_labels(p, 2), one_hot_from_labels(t, 2)
    nsd = surface_dice(p, t, [0.0, 2.0])
    assert nsd[0, 1] == 1.0 and nsd[0, 0] < 1.0
