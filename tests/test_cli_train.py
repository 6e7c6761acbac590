"""``diffusion-path train`` and ``sample`` end to end, on tiny runs: files, tensors, errors, torchrun.

Every run here trains a U-Net of a few thousand parameters for a few steps on a short chain
(``--unet`` and ``--T``), so that the whole file takes seconds of CPU; the default settings are
measured by Core Task 5's table, not here.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion_path.cli import main
from diffusion_path.diffusion.training import (
    check_precision,
    image_data,
    load_checkpoint,
    load_model,
)

#: One level of 8 channels, no attention: a U-Net that trains in milliseconds.
TINY = {"base_channels": 8, "channel_mults": [1], "attention_resolutions": [], "dropout": 0.0}
FAST = ["--T", "20", "--batch-size", "8", "--grid", "4", "--threads", "1"]


@pytest.fixture(autouse=True)
def _keep_threads():
    """``--threads`` sets PyTorch's thread count for the process: put it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _train(out: Path, *extra: str, unet: dict | None = None) -> int:
    settings = json.dumps({**TINY, **(unet or {})})
    return main(["train", "--out", str(out), *FAST, "--unet", settings, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny model trained for 6 steps on the digits: its folder."""
    out = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    try:
        assert _train(out, "--steps", "6", "--sample-every", "3", "--checkpoint-every", "3") == 0
    finally:
        torch.set_num_threads(threads)
    return out


def test_train_writes_the_model_samples_curve_and_checkpoint(trained):
    for name in ("model.pt", "samples.png", "loss.png", "checkpoint.pt"):
        assert (trained / name).is_file(), name
    assert sorted(p.name for p in (trained / "samples").iterdir()) == [
        "step-000003.png",
        "step-000006.png",
    ]
    model, schedule, info = load_model(trained / "model.pt")
    assert model.config.base_channels == 8 and not model.training
    assert schedule.T == 20 and info["data"] == "digits" and info["step"] == 6
    saved = load_checkpoint(trained / "model.pt")
    assert saved["config"]["steps"] == 6 and saved["schedule"] == "cosine"
    # model.pt holds the EMA weights: those of the checkpoint's average
    checkpoint = load_checkpoint(trained / "checkpoint.pt")
    for name, value in checkpoint["ema"].items():
        assert torch.equal(value, saved["ema"][name]), name


def test_train_prints_its_time_and_what_it_wrote(tmp_path, capsys):
    assert _train(tmp_path, "--steps", "3") == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps on digits in" in printed and "steps/s" in printed
    assert f"wrote {tmp_path / 'model.pt'}" in printed
    assert f"diffusion-path sample {tmp_path / 'model.pt'}" in printed


@pytest.mark.parametrize(
    ("sampler", "steps", "eta"), [("ddim", "5", "0"), ("ddim", "4", "0.5"), ("ddpm", "20", "0")]
)
def test_sample_writes_a_grid_and_images_in_range(trained, tmp_path, capsys, sampler, steps, eta):
    out = tmp_path / "sampled"
    argv = ["sample", str(trained / "model.pt"), "--sampler", sampler, "--steps", steps]
    argv += ["--eta", eta, "--num", "7", "--batch-size", "4", "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    samples = torch.load(out / "samples.pt", weights_only=True)
    assert samples.shape == (7, 1, 8, 8) and samples.dtype == torch.float32
    assert float(samples.min()) >= -1.0 and float(samples.max()) <= 1.0
    assert (out / "samples.png").is_file()
    printed = capsys.readouterr().out
    assert f"7 samples with {sampler.upper()}, {steps} steps" in printed
    assert "digits FD" in printed


def test_a_resumed_run_goes_on_from_its_checkpoint(trained, tmp_path):
    out = tmp_path / "more"
    resume = str(trained / "checkpoint.pt")
    assert _train(out, "--steps", "8", "--resume", resume) == 0
    assert load_checkpoint(out / "model.pt")["step"] == 8
    before = load_checkpoint(trained / "checkpoint.pt")["losses"]
    after = load_checkpoint(out / "checkpoint.pt")["losses"]
    assert after[: len(before)] == before and len(after) > len(before)


def test_bf16_mixed_precision_trains_on_the_cpu(tmp_path):
    assert _train(tmp_path, "--steps", "3", "--precision", "bf16") == 0
    assert load_checkpoint(tmp_path / "model.pt")["config"]["precision"] == "bf16"


def test_bf16_is_refused_where_the_device_has_none(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(ValueError, match="precision 'bf16' needs bfloat16"):
        check_precision("bf16", torch.device("cuda"))
    assert check_precision("fp32", torch.device("cuda")) == "fp32"


def _sample_argv(trained: Path, *extra: str) -> list[str]:
    return ["sample", str(trained / "model.pt"), "--num", "2", "--threads", "1", *extra]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["sample", "no-such-model.pt"], "no such file"),
        (["sample", "{folder}"], "got the folder"),
        ("sample-steps-0", "steps must be a positive integer, got 0"),
        ("sample-num--1", "num must be a positive integer, got -1"),
        ("sample-ddpm-50", "steps must be T = 20 for the DDPM sampler"),
        ("sample-eta-1.5", "eta must be in [0, 1]"),
        ("sample-eta--0.1", "eta must be in [0, 1]"),
        ("sample-ddpm-eta", "eta is DDIM's"),
        ("sample-steps-21", "steps must be at most T = 20"),
        ("sample-device", "device must be 'auto', 'cpu'"),
        ("sample-threads", "threads must be a positive integer"),
        (["train", "--out", "{folder}", "--steps", "0"], "steps must be a positive integer"),
        (["train", "--out", "{folder}", "--lr", "-1"], "lr must be > 0"),
        (["train", "--out", "{folder}", "--ema-decay", "1"], "ema_decay must be in [0, 1)"),
        (["train", "--out", "{folder}", "--batch-size", "0"], "batch_size must be a positive"),
        (["train", "--out", "{folder}", "--size", "12"], "size must be a multiple of 8"),
        (["train", "--out", "{folder}", "--T", "0"], "T must be a positive integer"),
        (
            ["train", "--out", "{folder}", "--T", "10", "--schedule", "linear"],
            "T must be more than 20",
        ),
        (["train", "--out", "{folder}", "--unet", "[1, 2]"], "unet must be a JSON object"),
        (["train", "--out", "{folder}", "--unet", '{"width": 3}'], "unet must be a JSON object"),
        (["train", "--out", "{folder}", "--device", "tpu"], "device must be 'auto'"),
        (
            ["train", "--out", "{folder}", "--data", "mnist", "--root", "{folder}"],
            "pass download=True (--download on the command line)",
        ),
        (["train", "--out", "{folder}", "--schedule", "quadratic"], "invalid choice"),
        (["sample", "{model}", "--sampler", "euler"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_status_2(trained, tmp_path, capsys, argv, says):
    shortcuts = {
        "sample-steps-0": _sample_argv(trained, "--steps", "0"),
        "sample-num--1": ["sample", str(trained / "model.pt"), "--num", "-1"],
        "sample-ddpm-50": _sample_argv(trained, "--sampler", "ddpm", "--steps", "50"),
        "sample-eta-1.5": _sample_argv(trained, "--eta", "1.5"),
        "sample-eta--0.1": _sample_argv(trained, "--eta", "-0.1"),
        "sample-ddpm-eta": _sample_argv(trained, "--sampler", "ddpm", "--eta", "0.3"),
        "sample-steps-21": _sample_argv(trained, "--steps", "21"),
        "sample-device": _sample_argv(trained, "--device", "gpu"),
        "sample-threads": ["sample", str(trained / "model.pt"), "--threads", "0"],
    }
    argv = shortcuts[argv] if isinstance(argv, str) else argv
    argv = [
        a.replace("{folder}", str(tmp_path)).replace("{model}", str(trained / "model.pt"))
        for a in argv
    ]
    if argv[0] == "train" and "--device" not in argv:
        argv += ["--device", "cpu", "--threads", "1"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert says in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_missing_cuda_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert main(["train", "--out", "unused", "--device", "cuda"]) == 2
    assert "'cuda' needs a CUDA GPU" in capsys.readouterr().err


# ----------------------------------------------------------------------------- torchvision files
def _idx(path: Path, array: np.ndarray) -> None:
    """``array`` in the MNIST files' IDX format: two zero bytes, the type 0x08, the rank, the sizes, the bytes."""
    with open(path, "wb") as file:
        file.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        file.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        file.write(array.astype(np.uint8).tobytes())


def _mnist_files(root: Path, folder: str, gz: bool = False) -> np.ndarray:
    """Tiny MNIST-format files (``.gz``-compressed, as served, when ``gz``): the training images."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    images = {}
    for split, n in (("train", 6), ("t10k", 2)):
        images[split] = rng.integers(0, 256, size=(n, 28, 28))
        for name, array in (
            (f"{split}-images-idx3-ubyte", images[split]),
            (f"{split}-labels-idx1-ubyte", rng.integers(0, 10, size=n)),
        ):
            _idx(raw / name, array)
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes()))
                (raw / name).unlink()
    return images["train"]


def _offline(monkeypatch) -> None:
    """torchvision's download finds the files present and never reaches the network."""
    import torchvision.datasets.mnist as mnist
    import torchvision.datasets.utils as utils

    def present(path, md5=None):  # tiny stand-ins: they exist, their MD5 sums differ
        return os.path.isfile(path)

    def no_network(*args, **kwargs):
        raise AssertionError("the test reached for the network")

    for module in (mnist, utils):
        monkeypatch.setattr(module, "check_integrity", present)
    monkeypatch.setattr(utils, "_urlretrieve", no_network)
    monkeypatch.setattr(utils, "_get_redirect_url", no_network)


def _cifar_files(root: Path, monkeypatch) -> None:
    import torchvision.datasets.cifar as cifar

    # the real files are checked against their MD5 sums; tiny stand-ins only need to exist
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, size=(2, 3072), dtype=np.uint8), "labels": [3, 5]}
        with open(folder / name, "wb") as file:
            pickle.dump(batch, file)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": [f"class {i}" for i in range(10)]}, file)


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_gzipped_idx_files_are_unpacked_and_read(tmp_path, monkeypatch, name, folder):
    """The files as the mirrors serve them (idx-ubyte.gz): ``--download`` unpacks them, offline."""
    _offline(monkeypatch)
    train_images = _mnist_files(tmp_path, folder, gz=True)
    with pytest.raises(ValueError, match="download=True"):
        image_data(name, tmp_path)  # still packed: not readable without the download step
    images = image_data(name, tmp_path, download=True)
    assert images.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(images[:, 0].numpy(), train_images / 127.5 - 1.0, atol=1e-6)
    assert (tmp_path / folder / "raw" / "train-images-idx3-ubyte").is_file()


@pytest.mark.parametrize(
    ("data", "shape"),
    [("mnist", (1, 28, 28)), ("fashion-mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))],
)
def test_torchvision_sets_train_from_their_own_file_format(tmp_path, monkeypatch, data, shape):
    root = tmp_path / "data"
    if data == "cifar10":
        root.mkdir()
        _cifar_files(root, monkeypatch)
    else:
        _mnist_files(root, {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[data])
    assert tuple(image_data(data, root).shape[1:]) == shape
    # the presets' widths need 32 groups; the tiny network here, 8
    tiny = {"groups": 8, "num_res_blocks": 1}
    out = tmp_path / "run"
    argv = ["--data", data, "--root", str(root), "--steps", "2", "--device", "cpu"]
    assert _train(out, *argv, unet=tiny) == 0
    model, _, info = load_model(out / "model.pt")
    assert info["data"] == data
    assert (model.config.in_channels, model.config.image_size, model.config.image_size) == shape
    assert (
        main(
            ["sample", str(out / "model.pt"), "--num", "2", "--steps", "3", "--out", str(out / "s")]
        )
        == 0
    )
    assert torch.load(out / "s" / "samples.pt", weights_only=True).shape == (2, *shape)


# ----------------------------------------------------------------------------- several processes
def _steps_of_the_mean_loss(checkpoint: dict, world: int = 2) -> tuple[dict, dict]:
    """The weights and EMA that ``world`` DDP processes must reach, computed in this one process.

    DistributedDataParallel averages the two processes' gradients, so each step is one step of
    the mean of two losses: process r draws its batch, steps and noise from a generator seeded
    with ``seed + r``. Summing half of each loss's gradient here gives the same gradient (up to
    the order of the additions), clipped and stepped by Adam the same way.
    """
    from diffusion_path.diffusion.schedules import NoiseSchedule
    from diffusion_path.diffusion.training import (
        TrainConfig,
        _ema_decay,
        _learning_rate,
        ema_update,
        simple_loss,
    )
    from diffusion_path.diffusion.unet import UNet, UNetConfig

    config = TrainConfig(**checkpoint["config"])
    schedule = NoiseSchedule(checkpoint["betas"])
    model = UNet(
        UNetConfig(**checkpoint["unet"]), generator=torch.Generator().manual_seed(config.seed)
    )
    ema = __import__("copy").deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generators = [torch.Generator().manual_seed(config.seed + rank) for rank in range(world)]
    data = image_data("digits")
    model.train()
    for step in range(checkpoint["step"]):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        optimizer.zero_grad()
        for generator in generators:
            index = torch.randint(0, len(data), (config.batch_size,), generator=generator)
            (simple_loss(model, data[index], schedule, generator) / world).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        ema_update(ema, model, _ema_decay(step, config))
    return model.state_dict(), ema.state_dict()


def test_torchrun_with_two_processes_takes_the_steps_of_the_averaged_gradient(tmp_path):
    """The command itself under torchrun: two CPU processes (gloo), one writes, and the weights
    are those of one process stepping on the mean of the two processes' losses."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "diffusion_path", "train", "--out", str(out)]
    command += ["--steps", "3", "--T", "20", "--batch-size", "8", "--grid", "4", "--device", "cpu"]
    command += ["--unet", json.dumps(TINY)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("trained 3 steps") == 1, "only the first process reports"
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "loss.png",
        "model.pt",
        "samples",
        "samples.png",
    ]
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 3
    weights, averaged = _steps_of_the_mean_loss(checkpoint)
    for name, value in weights.items():
        # float32 all-reduce sums in another order than one process's mean: rounding, ~1e-6
        torch.testing.assert_close(checkpoint["model"][name], value, rtol=1e-4, atol=1e-5)
    for name, value in averaged.items():
        torch.testing.assert_close(checkpoint["ema"][name], value, rtol=1e-4, atol=1e-5)
    # and not those of one process alone, which sees half the data: apart by more than rounding
    assert any(
        not torch.allclose(checkpoint["model"][name], value, rtol=1e-4, atol=1e-5)
        for name, value in _steps_of_the_mean_loss(checkpoint, world=1)[0].items()
    )
    model, _, info = load_model(out / "model.pt")
    assert info["step"] == 3
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 8, 8), torch.tensor([0, 19])).shape == (2, 1, 8, 8)
