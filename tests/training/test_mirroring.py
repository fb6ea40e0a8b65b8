"""Test-time mirroring (`evaluation.mirror_axes`, `edgewise eval --mirror-axes`)."""

import json

import pytest
import torch

from edgewise.cli import main
from edgewise.training import evaluate, train
from edgewise.training.whole_case import sliding_or_full


class _Ramp(torch.nn.Module):
    """Two-class logits that depend on position, so a flip changes them: class 1's logit is
    the image plus a ramp along the last axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-1.0, 1.0, x.shape[-1], dtype=x.dtype).expand_as(x)
        return torch.cat([torch.zeros_like(x), x + ramp], 1)


def test_mirroring_averages_the_softmax_of_every_flip_by_hand():
    image = torch.randn(2, 1, 5, 7, generator=torch.Generator().manual_seed(0))
    net = _Ramp()
    out = sliding_or_full(net, image, None, mirror_axes=[1])
    plain = torch.softmax(net(image), 1)
    flipped = torch.softmax(net(image.flip(3)), 1).flip(3)
    torch.testing.assert_close(out.exp(), (plain + flipped) / 2)
    # flips along an axis the network ignores change nothing: the average of equal softmaxes
    torch.testing.assert_close(sliding_or_full(net, image, None, mirror_axes=[0]).exp(), plain)
    both = sliding_or_full(net, image, None, mirror_axes=[0, 1]).exp()
    torch.testing.assert_close(both, (plain + flipped) / 2)
    # without mirroring: the network's own logits
    torch.testing.assert_close(sliding_or_full(net, image, None), net(image))


def test_mirroring_with_sliding_windows_3d():
    image = torch.randn(1, 1, 6, 8, 10, generator=torch.Generator().manual_seed(1))
    net = _Ramp()
    out = sliding_or_full(net, image, [6, 8, 10], mirror_axes=[2])
    expected = (torch.softmax(net(image), 1) + torch.softmax(net(image.flip(4)), 1).flip(4)) / 2
    torch.testing.assert_close(out.exp(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axes", [[2], [-1], [0, 0]])
def test_bad_mirror_axes_are_refused(axes):
    with pytest.raises(ValueError, match=r"distinct spatial axes in 0\.\.1, got"):
        sliding_or_full(_Ramp(), torch.zeros(1, 1, 4, 4), None, mirror_axes=axes)


def test_evaluate_with_mirroring_from_config_and_cli(tmp_path, tiny_config):
    run_dir = train(tiny_config("evaluation.mirror_axes=[0, 1]"), output_dir=tmp_path / "run")
    summary = evaluate(run_dir, overlays=0)
    assert summary["mirror_axes"] == [0, 1]
    plain = evaluate(run_dir, overlays=0, mirror_axes=[], output_dir=tmp_path / "plain")
    assert plain["mirror_axes"] == []
    assert main(["eval", str(run_dir), "--overlays", "0", "--mirror-axes", "1",
                 "-o", str(tmp_path / "cli")]) == 0
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["mirror_axes"] == [1]
    with pytest.raises(ValueError, match="mirror_axes"):
        evaluate(run_dir, overlays=0, mirror_axes=[1, 1], output_dir=tmp_path / "bad")
    assert main(["eval", str(run_dir), "--mirror-axes", "5", "-o", str(tmp_path / "bad2")]) == 2
    assert not (tmp_path / "bad2").exists()
