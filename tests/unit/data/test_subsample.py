import numpy as np
import pytest

from snakesweep.data.subsample import class_counts, make_splits, stratified_counts, stratified_split


def _labels(counts):
    return np.concatenate([np.full(n, c) for c, n in enumerate(counts)])


@pytest.mark.parametrize("size", [0, 1, 7, 100, 333, 999, 1000])
def test_stratified_counts_are_within_one_of_exact(size):
    labels = _labels([91, 113, 99, 101, 98, 89, 98, 103, 97, 211])
    counts = stratified_counts(labels, size)
    assert sum(counts.values()) == size
    for cls, n_cls in enumerate([91, 113, 99, 101, 98, 89, 98, 103, 97, 211]):
        exact = n_cls * size / len(labels)
        assert abs(counts[cls] - exact) < 1


def test_stratified_split_is_a_partition_and_seeded():
    labels = _labels([50] * 10)
    picked, rest = stratified_split(labels, 100, np.random.default_rng(1))
    assert len(np.intersect1d(picked, rest)) == 0
    assert len(picked) + len(rest) == len(labels)
    assert np.bincount(labels[picked]).tolist() == [10] * 10
    again, _ = stratified_split(labels, 100, np.random.default_rng(1))
    other, _ = stratified_split(labels, 100, np.random.default_rng(2))
    assert np.array_equal(picked, again)
    assert not np.array_equal(picked, other)


def _download_like(seed=0):
    rng = np.random.default_rng(seed)
    train_y = rng.integers(0, 10, 3000)
    test_y = rng.integers(0, 10, 500)
    return {
        "train_images": rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8),
        "train_labels": train_y,
        "test_images": rng.integers(0, 256, (500, 28, 28), dtype=np.uint8),
        "test_labels": test_y,
    }


def test_download_source_keeps_fraction_of_train_and_test():
    raw = _download_like()
    splits = make_splits(raw, seed=0, fraction=0.2, val_fraction=0.1, test_fraction=0.5)
    assert len(splits["y_train"]) + len(splits["y_val"]) == 600
    assert len(splits["y_val"]) == 60
    assert len(splits["y_test"]) == 100
    full = np.bincount(raw["train_labels"], minlength=10) * 0.2
    kept = np.bincount(np.concatenate([splits["y_train"], splits["y_val"]]), minlength=10)
    assert np.all(np.abs(kept - full) < 1)


def test_bundled_source_is_used_whole_with_a_stratified_test_split():
    labels = _labels([500] * 10)
    raw = {"images": np.zeros((5000, 28, 28), np.uint8), "labels": labels}
    splits = make_splits(raw, seed=3, fraction=0.2, val_fraction=0.1, test_fraction=0.2)
    assert class_counts(splits["y_test"]) == {str(c): 100 for c in range(10)}
    assert class_counts(splits["y_val"]) == {str(c): 40 for c in range(10)}
    assert class_counts(splits["y_train"]) == {str(c): 360 for c in range(10)}


def test_same_seed_same_splits_other_seed_other_splits():
    raw = _download_like()
    a = make_splits(raw, 5, 0.2, 0.1, 0.2)
    b = make_splits(raw, 5, 0.2, 0.1, 0.2)
    c = make_splits(raw, 6, 0.2, 0.1, 0.2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x_train"], c["x_train"])


def test_empty_split_is_an_error():
    raw = _download_like()
    with pytest.raises(ValueError, match="empty"):
        make_splits(raw, 0, fraction=0.001, val_fraction=0.1, test_fraction=0.2)
