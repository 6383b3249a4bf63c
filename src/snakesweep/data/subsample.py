"""Seeded, stratified splits of a labelled image set.

Every split keeps the class proportions of its source: each class gets its exact share rounded by
the largest-remainder method, so no class is more than one image away from its exact share and
the split sizes add up. Which images are taken is drawn from a numpy Generator seeded with a
child seed of the config seed, so the same seed gives the same images everywhere.
"""

from __future__ import annotations

import numpy as np

from snakesweep.seeding import derive_seed


def stratified_counts(labels: np.ndarray, size: int) -> dict[int, int]:
    """How many images of each class a stratified sample of `size` takes (largest remainder)."""
    classes, counts = np.unique(labels, return_counts=True)
    if not 0 <= size <= len(labels):
        raise ValueError(f"cannot draw {size} of {len(labels)} images")
    exact = counts * size / len(labels)
    taken = np.floor(exact).astype(int)
    remainder = size - int(taken.sum())
    # Largest fractional part first; ties go to the smaller class label, so the result is stable.
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - taken[i]), classes[i]))
    for i in order[:remainder]:
        taken[i] += 1
    return {int(c): int(t) for c, t in zip(classes, taken, strict=True)}


def stratified_split(
    labels: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified sample of `size` and of the rest, each in ascending order."""
    chosen = []
    for cls, count in stratified_counts(labels, size).items():
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.permutation(members)[:count])
    picked = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), picked, assume_unique=True)
    return picked, rest


def make_splits(
    raw: dict[str, np.ndarray],
    seed: int,
    fraction: float,
    val_fraction: float,
    test_fraction: float,
) -> dict[str, np.ndarray]:
    """train/val/test arrays from a raw source.

    A source with its own test split (the download) is subsampled by `fraction`, train and test
    alike, as the W&B intro keeps every 5th digit of both. A source without one (the bundled
    5,000-digit sample) is used whole and gets a stratified test split of `test_fraction`.
    The validation split is carved from the training part in both cases.
    """
    rng = np.random.default_rng(derive_seed(seed, "subsample"))
    if "test_images" in raw:
        train_x, train_y = _take_fraction(raw["train_images"], raw["train_labels"], fraction, rng)
        test_x, test_y = _take_fraction(raw["test_images"], raw["test_labels"], fraction, rng)
    else:
        images, labels = raw["images"], raw["labels"]
        test_idx, train_idx = stratified_split(labels, round(len(labels) * test_fraction), rng)
        train_x, train_y = images[train_idx], labels[train_idx]
        test_x, test_y = images[test_idx], labels[test_idx]
    val_idx, fit_idx = stratified_split(train_y, round(len(train_y) * val_fraction), rng)
    splits = {
        "x_train": train_x[fit_idx],
        "y_train": train_y[fit_idx],
        "x_val": train_x[val_idx],
        "y_val": train_y[val_idx],
        "x_test": test_x,
        "y_test": test_y,
    }
    for name in ("train", "val", "test"):
        if len(splits[f"y_{name}"]) == 0:
            raise ValueError(
                f"the {name} split is empty: raise data.fraction or the split fractions"
            )
    return splits


def _take_fraction(images, labels, fraction, rng):
    idx, _ = stratified_split(labels, round(len(labels) * fraction), rng)
    return images[idx], labels[idx]


def class_counts(labels: np.ndarray) -> dict[str, int]:
    classes, counts = np.unique(labels, return_counts=True)
    return {str(int(c)): int(n) for c, n in zip(classes, counts, strict=True)}
