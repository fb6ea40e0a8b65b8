"""Datasets: readers for DRIVE, ACDC, the Medical Segmentation Decathlon and folders of
pairs, a synthetic generator, slicing/patching, augmentation and ``build_dataset``.

Every dataset returns dict items with the schema documented in
:mod:`edgewise.data.base` and exposes ``num_classes``, ``in_channels``,
``spatial_dims`` and ``class_names``.
"""

from edgewise.data.augment import Augment
from edgewise.data.base import Case, SegmentationDataset, Volume, normalize_volume, resize_volume, split_cases
from edgewise.data.factory import DATASET_NAMES, build_dataset, subject_of
from edgewise.data.image_files import read_image_2d, read_nifti
from edgewise.data.readers import ACDCDataset, DecathlonDataset, DriveDataset, FolderDataset
from edgewise.data.synthetic import SyntheticDataset, make_synthetic

__all__ = [
    "ACDCDataset",
    "Augment",
    "Case",
    "DATASET_NAMES",
    "DecathlonDataset",
    "DriveDataset",
    "FolderDataset",
    "SegmentationDataset",
    "SyntheticDataset",
    "Volume",
    "build_dataset",
    "make_synthetic",
    "normalize_volume",
    "read_image_2d",
    "read_nifti",
    "resize_volume",
    "split_cases",
    "subject_of",
]
