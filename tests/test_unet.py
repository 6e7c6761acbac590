"""The U-Net of Core Task 3: configurations checked when made, shapes kept, blocks against torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from diffusion_path.diffusion.unet import (
    AttentionBlock,
    Downsample,
    EmbeddingSequential,
    ResidualBlock,
    UNet,
    UNetConfig,
    Upsample,
)


def _randomise(module: torch.nn.Module, seed: int, scale: float = 0.3) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
    return module


# ----------------------------------------------------------------------------- configurations
@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"image_size": 28, "channel_mults": (1, 2, 2, 2)}, "image_size"),
        ({"image_size": 12, "channel_mults": (1, 2, 2, 2)}, "image_size"),
        ({"image_size": 0}, "image_size"),
        ({"base_channels": 24, "groups": 16}, "groups"),
        ({"base_channels": 33, "groups": 1}, "base_channels"),
        ({"attention_resolutions": (16,)}, "attention_resolutions"),
        ({"attention_resolutions": (3,)}, "attention_resolutions"),
        ({"heads": 3}, "heads"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"channel_mults": ()}, "channel_mults"),
        ({"channel_mults": (1, 0)}, "channel_mults"),
        ({"num_res_blocks": 0}, "num_res_blocks"),
        ({"in_channels": 2.5}, "in_channels"),
        ({"embedding_dim": -4}, "embedding_dim"),
    ],
)
def test_a_configuration_that_cannot_work_is_rejected_naming_its_field(settings, field):
    with pytest.raises(ValueError, match=field):
        UNetConfig(**settings)


def test_resolutions_and_widths_follow_the_levels():
    config = UNetConfig(
        image_size=28,
        base_channels=16,
        channel_mults=(1, 2, 4),
        groups=4,
        attention_resolutions=(7,),
    )
    assert config.resolutions == (28, 14, 7)
    assert config.widths == (16, 32, 64)
    assert config.time_dim == 64
    assert UNetConfig(embedding_dim=40).time_dim == 40


def test_the_cifar10_preset_is_ddpms_network_of_35_7_million_parameters():
    """DDPM (Appendix B): 35.7 million parameters for CIFAR-10 — a count from the paper, not from this code."""
    model = UNet(UNetConfig.cifar10())
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e6, 1) == 35.7
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(x, torch.tensor([0, 999])).shape == x.shape


def test_the_mnist_preset_builds_and_keeps_the_shape_without_padding():
    model = UNet(UNetConfig.mnist())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert model(x, torch.tensor([3, 500])).shape == x.shape


SUPPORTED = [
    {},
    {"image_size": 4, "base_channels": 8, "channel_mults": (1,), "attention_resolutions": ()},
    {
        "image_size": 16,
        "base_channels": 8,
        "channel_mults": (1, 2, 2, 2),
        "attention_resolutions": (4, 2),
    },
    {
        "image_size": 12,
        "in_channels": 3,
        "base_channels": 8,
        "channel_mults": (1, 2, 3),
        "num_res_blocks": 2,
        "attention_resolutions": (12,),
    },
    {
        "image_size": 8,
        "base_channels": 16,
        "groups": 4,
        "heads": 4,
        "channel_mults": (1, 2, 2),
        "attention_resolutions": (8, 4, 2),
        "dropout": 0.1,
    },
    {
        "image_size": 6,
        "base_channels": 8,
        "channel_mults": (1, 1),
        "attention_resolutions": (3,),
        "embedding_dim": 20,
    },
]


@pytest.mark.parametrize(
    "settings", SUPPORTED, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default"
)
def test_every_supported_configuration_keeps_the_shape_and_rejects_other_sizes(settings):
    config = UNetConfig(**settings)
    model = _randomise(UNet(config), seed=0, scale=0.1).eval()
    x = torch.randn(3, config.in_channels, config.image_size, config.image_size)
    t = torch.tensor([0, 17, 199])
    with torch.no_grad():
        out = model(x, t)
    assert out.shape == x.shape and bool(torch.isfinite(out).all())
    bad_inputs = [
        torch.randn(3, config.in_channels + 1, config.image_size, config.image_size),
        torch.randn(3, config.in_channels, config.image_size + 2, config.image_size + 2),
        torch.randn(3, config.in_channels, config.image_size, 2 * config.image_size),
        torch.randn(3, config.image_size, config.image_size),
    ]
    for bad in bad_inputs:
        with pytest.raises(ValueError, match="x must have shape"):
            model(bad, t)
    with pytest.raises(ValueError, match="t must have 3 entries"):
        model(x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="t must be >= 0"):
        model(x, torch.tensor([1, -2, 3]))


def test_a_new_network_predicts_zero_and_its_seed_fixes_its_weights():
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 150])
    a = UNet(generator=torch.Generator().manual_seed(3))
    b = UNet(generator=torch.Generator().manual_seed(3))
    c = UNet(generator=torch.Generator().manual_seed(4))
    assert bool((a(x, t) == 0).all())
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert not torch.equal(a.down[0][0].weight, c.down[0][0].weight)
    state = torch.random.get_rng_state()
    UNet(generator=torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.random.get_rng_state())


def test_examples_do_not_mix_and_the_step_matters():
    model = _randomise(UNet(), seed=1, scale=0.1).eval()
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 50, 120, 199])
    with torch.no_grad():
        batch = model(x, t)
        for i in range(4):
            assert torch.allclose(batch[i], model(x[i : i + 1], t[i : i + 1])[0], atol=1e-5)
        assert not torch.allclose(batch, model(x, t.flip(0)), atol=1e-3)


def test_an_int_step_stands_for_the_whole_batch():
    model = _randomise(UNet(), seed=2, scale=0.1).eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x, 7), model(x, torch.full((3,), 7)))


# ----------------------------------------------------------------------------- blocks
def test_residual_block_is_eq_C3_3_written_with_torch_functional():
    block = _randomise(ResidualBlock(8, 16, embedding_dim=12, groups=4), seed=3).eval()
    x, emb = torch.randn(2, 8, 5, 6), torch.randn(2, 12)
    p = dict(block.named_parameters())
    h = F.conv2d(
        F.silu(F.group_norm(x, 4, p["norm1.weight"], p["norm1.bias"])),
        p["conv1.weight"],
        p["conv1.bias"],
        padding=1,
    )
    h = h + F.linear(F.silu(emb), p["embedding.weight"], p["embedding.bias"])[:, :, None, None]
    h = F.conv2d(
        F.silu(F.group_norm(h, 4, p["norm2.weight"], p["norm2.bias"])),
        p["conv2.weight"],
        p["conv2.bias"],
        padding=1,
    )
    expected = F.conv2d(x, p["skip.weight"], p["skip.bias"]) + h
    with torch.no_grad():
        assert torch.allclose(block(x, emb), expected, atol=1e-5)


def test_a_new_residual_block_is_its_skip_path():
    x, emb = torch.randn(2, 8, 4, 4), torch.randn(2, 12)
    assert torch.equal(ResidualBlock(8, 8, 12, groups=4)(x, emb), x)
    block = ResidualBlock(8, 16, 12, groups=4)
    assert torch.allclose(block(x, emb), block.skip(x))


def test_attention_block_agrees_with_torch_scaled_dot_product_attention():
    """The same attention as PyTorch's own kernel, fed Q, K, V laid out as the docstring says."""
    for heads in (1, 2, 4):
        block = _randomise(AttentionBlock(16, heads=heads, groups=4), seed=heads, scale=0.5)
        x = torch.randn(2, 16, 3, 5)
        B, C, H, W = x.shape
        d = C // heads
        qkv = block.qkv(block.norm(x)).reshape(B, 3, heads, d, H * W).transpose(-1, -2)
        out = F.scaled_dot_product_attention(qkv[:, 0], qkv[:, 1], qkv[:, 2])  # (B, heads, HW, d)
        expected = x + block.proj(out.transpose(-1, -2).reshape(B, C, H, W))
        with torch.no_grad():
            assert torch.allclose(block(x), expected, atol=1e-5), heads


def test_attention_is_the_identity_when_new_and_equivariant_to_pixel_order():
    x = torch.randn(2, 8, 4, 4)
    assert torch.equal(AttentionBlock(8, heads=2, groups=4)(x), x)
    block = _randomise(AttentionBlock(8, heads=2, groups=4), seed=7, scale=0.5)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = block(x).reshape(2, 8, 16)[:, :, order]
        b = block(x.reshape(2, 8, 16)[:, :, order].reshape(2, 8, 4, 4)).reshape(2, 8, 16)
    assert torch.allclose(a, b, atol=1e-5)


def test_sampling_layers_halve_and_double_the_resolution():
    x = torch.randn(2, 4, 6, 6)
    assert Downsample(4)(x).shape == (2, 4, 3, 3)
    assert Upsample(4)(x).shape == (2, 4, 12, 12)
    stage = EmbeddingSequential(
        ResidualBlock(4, 8, 10, groups=4), AttentionBlock(8, groups=4), Downsample(8)
    )
    assert stage(x, torch.randn(2, 10)).shape == (2, 8, 3, 3)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: ResidualBlock(6, 8, 10, groups=4), "in_channels"),
        (lambda: ResidualBlock(8, 6, 10, groups=4), "out_channels"),
        (lambda: ResidualBlock(8, 8, 0), "embedding_dim"),
        (lambda: ResidualBlock(8, 8, 10, dropout=1.5), "dropout"),
        (lambda: AttentionBlock(8, heads=3), "heads"),
        (lambda: AttentionBlock(12, groups=8), "groups"),
        (lambda: AttentionBlock(0), "channels"),
        (lambda: Downsample(-1), "channels"),
        (lambda: UNet("digits"), "config"),
        (lambda: UNet(generator=0), "generator"),
    ],
)
def test_bad_sizes_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_gradients_reach_every_parameter():
    model = _randomise(UNet(UNetConfig(base_channels=16)), seed=8, scale=0.1)
    model(torch.randn(2, 1, 8, 8), torch.tensor([3, 100])).square().sum().backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]
    assert not missing
