"""edgewise.data.image_files: reading NIfTI headers and checking label maps."""

from __future__ import annotations

import numpy as np
import pytest



def test_a_nifti_header_with_a_nan_pixel_size_names_the_file(tmp_path, writers):
    writers.decathlon(tmp_path, n=2, modalities=1)
    nib = pytest.importorskip("nibabel")
    bad = tmp_path / "labelsTr" / "case_001.nii.gz"
    img = nib.load(str(bad))
    header = img.header.copy()
    header["pixdim"][2] = np.nan
    nib.Nifti1Image(np.asarray(img.dataobj), None, header).to_filename(str(bad))
    from edgewise.data.image_files import read_nifti

    with pytest.raises(ValueError) as info:
        read_nifti(bad)
    assert f"NIfTI file {bad} has pixel sizes" in str(info.value) and "finite sizes > 0" in str(info.value)


@pytest.mark.parametrize("label_map, hint", [({"0:0": None, "255:1": None}, "space after each colon"),
                                             ({0: "background"}, "mapping of integers"), ([0, 1], "got [0, 1]")])
def test_a_bad_label_map_names_the_option(label_map, hint):
    # `score --data-option "label_map={0:0,255:1}"` reads as the keys "0:0" and "255:1" in YAML
    from edgewise.data.image_files import check_label_map

    with pytest.raises(ValueError) as info:
        check_label_map(label_map)
    assert str(info.value).startswith("option label_map: expected a mapping of integers") and hint in str(info.value)
