"""Datasets: toy sets by their geometry, images by their source, torchvision on tiny files in its own format."""

from __future__ import annotations

import math
import pickle
import struct

import numpy as np
import pytest
import torch

from diffusion_path.tools import data


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_two_moons_lie_on_their_half_circles():
    x = data.two_moons(1001, _gen(), noise=0.0).double()
    assert x.shape == (1001, 2)
    raw = x * torch.tensor([0.87, 0.5], dtype=torch.float64) + torch.tensor(
        [0.5, 0.25], dtype=torch.float64
    )
    on_upper = ((raw.norm(dim=1) - 1).abs() < 1e-6) & (raw[:, 1] >= -1e-6)
    centre = torch.tensor([1.0, 0.5], dtype=torch.float64)
    on_lower = (((raw - centre).norm(dim=1) - 1).abs() < 1e-6) & (raw[:, 1] <= 0.5 + 1e-6)
    assert bool((on_upper | on_lower).all()), "every point lies on one of the half circles"
    assert int(on_upper.sum()) == 501 and int(on_lower.sum()) == 500
    assert bool(on_upper[:100].any() and on_lower[:100].any()), "the moons are shuffled together"


def test_swiss_roll_is_a_spiral():
    x = data.swiss_roll(500, _gen(), noise=0.0).double() * 6.8 + torch.tensor(
        [2.0, 0.2], dtype=torch.float64
    )
    radius = x.norm(
        dim=1
    )  # equals the angle theta on the spiral (theta cos theta, theta sin theta)
    assert bool(((radius > 1.5 * math.pi - 1e-4) & (radius < 4.5 * math.pi + 1e-4)).all())
    torch.testing.assert_close(x[:, 0] / radius, torch.cos(radius), atol=1e-5, rtol=0)


def test_gaussian_mixture_weights_and_reproducibility():
    n = 20_000
    means = [[-3.0, 0.0], [3.0, 0.0]]
    x = data.gaussian_mixture(n, _gen(1), weights=[0.25, 0.75], means=means, std=0.2)
    share = float((x[:, 0] < 0).double().mean())
    assert abs(share - 0.25) < 4.892 * math.sqrt(0.25 * 0.75 / n)
    assert torch.equal(data.gaussian_mixture(10, _gen(5)), data.gaussian_mixture(10, _gen(5)))
    _, ring, variance = data.ring_of_gaussians()
    assert (
        ring.shape == (8, 2)
        and np.allclose(ring.norm(dim=1).numpy(), 1.5)
        and variance == pytest.approx(0.0225)
    )


def test_toy_2d_dispatch_and_errors():
    for name in ("moons", "swiss_roll", "mixture"):
        x = data.toy_2d(name, 7, _gen())
        assert x.shape == (7, 2) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="name"):
        data.toy_2d("spiral", 7, _gen())
    with pytest.raises(ValueError, match="generator"):
        data.two_moons(7, None)
    with pytest.raises(ValueError, match="noise"):
        data.swiss_roll(7, _gen(), noise=-1.0)
    with pytest.raises(ValueError, match="n"):
        data.two_moons(0, _gen())
    with pytest.raises(ValueError, match="weights"):
        data.gaussian_mixture(5, _gen(), weights=[1.0], means=[[0.0], [1.0]])


def test_digits_are_sklearns_scaled_to_minus_one_one():
    from sklearn.datasets import load_digits

    digits = data.load_digits()
    raw = load_digits().images
    assert digits.shape == (1797, 1, 8, 8) and digits.dtype == torch.float32
    np.testing.assert_allclose(digits[:, 0].numpy(), raw / 8.0 - 1.0, atol=1e-6)


def test_photo_from_matplotlib_sample_data():
    from matplotlib import cbook
    from matplotlib import image as mpl_image

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        pixels = mpl_image.imread(file, format="jpg")
    full = data.load_photo(None)
    assert full.shape == (1, 3, 512, 512)
    top = (pixels.shape[0] - 512) // 2
    np.testing.assert_allclose(full[0, :, 0, 0].numpy(), pixels[top, 0] / 127.5 - 1.0, atol=1e-6)
    small = data.load_photo(32, grayscale=True)
    assert small.shape == (1, 1, 32, 32)
    assert float(small.min()) >= -1.0 and float(small.max()) <= 1.0
    # area resizing averages: the mean brightness is kept
    gray = data.load_photo(None, grayscale=True)
    assert float(small.mean()) == pytest.approx(float(gray.mean()), abs=1e-4)


def test_range_helpers_round_trip():
    pixels = torch.arange(256, dtype=torch.uint8)
    x = data.to_model_range(pixels)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    torch.testing.assert_close(data.to_display_range(x) * 255, pixels.float())


# ----------------------------------------------------------------------------- torchvision, offline
def _idx(path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) in the IDX format of the MNIST files: magic, dimensions, bytes."""
    with open(path, "wb") as file:
        file.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        file.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        file.write(array.astype(np.uint8).tobytes())


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_family_from_tiny_idx_files(tmp_path, name, folder):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    images = {
        split: rng.integers(0, 256, size=(n, 28, 28)) for split, n in (("train", 5), ("t10k", 3))
    }
    labels = {split: rng.integers(0, 10, size=len(images[split])) for split in images}
    for split in images:
        _idx(raw / f"{split}-images-idx3-ubyte", images[split])
        _idx(raw / f"{split}-labels-idx1-ubyte", labels[split])
    x, y = data.load_torchvision(name, tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_allclose(x[:, 0].numpy(), images["train"] / 127.5 - 1.0, atol=1e-6)
    assert y.tolist() == labels["train"].tolist()
    x_test, _ = data.load_torchvision(name, tmp_path, train=False, n=2)
    assert x_test.shape == (2, 1, 28, 28)


def test_cifar10_from_tiny_pickled_batches(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # the real files are checked against their MD5 sums; tiny stand-ins only need to exist
    monkeypatch.setattr(
        cifar, "check_integrity", lambda path, md5=None: __import__("os").path.isfile(path)
    )
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {
            "data": rng.integers(0, 256, size=(2, 3072), dtype=np.uint8),
            "labels": [1, 7],
        }
        with open(folder / name, "wb") as file:
            pickle.dump(batches[name], file)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": [f"class {i}" for i in range(10)]}, file)
    x, y = data.load_torchvision("cifar10", tmp_path)
    assert x.shape == (10, 3, 32, 32) and y.tolist() == [1, 7] * 5
    expected = batches["data_batch_1"]["data"][0].reshape(3, 32, 32) / 127.5 - 1.0
    np.testing.assert_allclose(x[0].numpy(), expected, atol=1e-6)


def test_missing_files_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="download=True"):
        data.load_torchvision("mnist", tmp_path)
    with pytest.raises(ValueError, match="name"):
        data.load_torchvision("imagenet", tmp_path)
