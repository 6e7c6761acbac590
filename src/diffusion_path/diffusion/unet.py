r"""Core Task 3, part 2: a small U-Net that predicts the noise in images.

The network of [DDPM](https://arxiv.org/abs/2006.11239) (Sec. 4 and Appendix B) is a U-Net
([Ronneberger et al.](https://arxiv.org/abs/1505.04597)) built from the pieces of a
Wide ResNet: residual blocks with group normalisation, the step's sinusoidal features added
inside every block, self-attention at low resolution, and skip connections that carry each
resolution's features from the way down to the way up. This module has one of each piece,
written to be read:

- [`UNetConfig`][diffusion_path.diffusion.unet.UNetConfig]: the sizes — checked when made,
  with presets for the 8×8 digits, MNIST and CIFAR-10;
- [`ResidualBlock`][diffusion_path.diffusion.unet.ResidualBlock] (eq. C3.3) and
  [`AttentionBlock`][diffusion_path.diffusion.unet.AttentionBlock] (eq. C3.4);
- [`Downsample`][diffusion_path.diffusion.unet.Downsample],
  [`Upsample`][diffusion_path.diffusion.unet.Upsample] and
  [`EmbeddingSequential`][diffusion_path.diffusion.unet.EmbeddingSequential], the glue;
- [`UNet`][diffusion_path.diffusion.unet.UNet], which strings them together (eq. C3.5).

The last convolution of every residual branch, of every attention block and of the whole
network starts at zero, as in DDPM's code: each block starts as the identity on its skip path,
and the untrained network predicts $\varepsilon_\theta = 0$, whose loss is exactly 1 — a calm
start from which every gradient step is an improvement.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from diffusion_path.diffusion.networks import timestep_embedding, weights_from
from diffusion_path.tools import validation

__all__ = [
    "AttentionBlock",
    "Downsample",
    "EmbeddingSequential",
    "ResidualBlock",
    "UNet",
    "UNetConfig",
    "Upsample",
]


class UNetConfig:
    r"""The sizes of a [`UNet`][diffusion_path.diffusion.unet.UNet], checked when made.

    The network has ``len(channel_mults)`` levels; level $\ell$ works at resolution
    ``image_size / 2**l`` with ``base_channels * channel_mults[l]`` channels. The defaults fit
    the 8×8 digits on a CPU; [`mnist`][diffusion_path.diffusion.unet.UNetConfig.mnist] and
    [`cifar10`][diffusion_path.diffusion.unet.UNetConfig.cifar10] are larger presets for a GPU.
    Besides the settings, a config holds ``widths`` and ``resolutions``, one entry per level, and
    ``time_dim``, the width of the time embedding.

    Args:
        image_size: Height and width of the images (square), divisible by ``2**(levels - 1)``.
        in_channels: Channels of the images (1 for grey, 3 for colour).
        base_channels: Width of the first level; also the number of sinusoidal features of $t$.
        channel_mults: Width of each level, in multiples of ``base_channels``.
        num_res_blocks: Residual blocks per level on the way down (one more on the way up).
        attention_resolutions: The resolutions (in pixels) at which self-attention follows each
            residual block; the middle of the network always has one. Each must occur.
        dropout: Dropout probability inside the residual blocks, in $[0, 1)$.
        groups: Groups of the GroupNorm layers; every width must be divisible by it.
        heads: Attention heads; every width with attention must be divisible by it.
        embedding_dim: Width of the time embedding after its MLP (``None``: ``4 * base_channels``,
            as in DDPM).

    Raises:
        ValueError: naming the field that cannot work: a size that is not a positive int,
            ``image_size`` not divisible by ``2**(len(channel_mults) - 1)``, a width not divisible
            by ``groups`` (or, with attention, by ``heads``), an ``attention_resolutions`` entry
            that is not one of the network's resolutions, an odd ``base_channels``, or
            ``dropout`` outside $[0, 1)$.

    Examples:
        >>> UNetConfig().resolutions, UNetConfig().widths
        ((8, 4), (32, 64))
        >>> UNetConfig(image_size=28, channel_mults=(1, 2, 2, 2))
        Traceback (most recent call last):
        ValueError: image_size must be divisible by 2**3 = 8 for 4 levels (channel_mults), got 28
        >>> UNetConfig(base_channels=24, groups=16)
        Traceback (most recent call last):
        ValueError: groups must divide every width (base_channels * channel_mults = [24, 48]), got 16
        >>> UNetConfig(attention_resolutions=(16,))
        Traceback (most recent call last):
        ValueError: attention_resolutions must hold resolutions of the network, (8, 4); got 16
    """

    #: The settings, in the order of the constructor's arguments.
    FIELDS = (
        "image_size",
        "in_channels",
        "base_channels",
        "channel_mults",
        "num_res_blocks",
        "attention_resolutions",
        "dropout",
        "groups",
        "heads",
        "embedding_dim",
    )

    def __init__(
        self,
        image_size: int = 8,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2),
        num_res_blocks: int = 1,
        attention_resolutions: tuple[int, ...] = (4,),
        dropout: float = 0.0,
        groups: int = 8,
        heads: int = 1,
        embedding_dim: int | None = None,
    ) -> None:
        self.image_size = validation.positive_int(image_size, "image_size")
        self.in_channels = validation.positive_int(in_channels, "in_channels")
        self.base_channels = validation.even_int(base_channels, "base_channels")
        self.num_res_blocks = validation.positive_int(num_res_blocks, "num_res_blocks")
        self.groups = validation.positive_int(groups, "groups")
        self.heads = validation.positive_int(heads, "heads")
        self.embedding_dim = (
            None
            if embedding_dim is None
            else validation.positive_int(embedding_dim, "embedding_dim")
        )
        if not isinstance(channel_mults, tuple | list) or not channel_mults:
            raise ValueError(
                f"channel_mults must be a non-empty tuple of ints, one per level, got {channel_mults!r}"
            )
        self.channel_mults = tuple(
            validation.positive_int(m, "channel_mults") for m in channel_mults
        )
        levels = len(self.channel_mults)
        if image_size % 2 ** (levels - 1):
            raise ValueError(
                f"image_size must be divisible by 2**{levels - 1} = {2 ** (levels - 1)} for "
                f"{levels} levels (channel_mults), got {image_size}"
            )
        #: The width of each level, ``base_channels * channel_mults[l]``.
        self.widths = tuple(base_channels * mult for mult in self.channel_mults)
        if any(width % groups for width in self.widths):
            raise ValueError(
                f"groups must divide every width (base_channels * channel_mults = "
                f"{list(self.widths)}), got {groups}"
            )
        #: The resolution of each level, ``image_size / 2**l``.
        self.resolutions = tuple(image_size // 2**level for level in range(levels))
        if not isinstance(attention_resolutions, tuple | list):
            raise ValueError(
                f"attention_resolutions must be a tuple of resolutions, got {attention_resolutions!r}"
            )
        for resolution in attention_resolutions:
            if resolution not in self.resolutions:
                raise ValueError(
                    f"attention_resolutions must hold resolutions of the network, "
                    f"{self.resolutions}; got {resolution!r}"
                )
        self.attention_resolutions = tuple(attention_resolutions)
        attended = {
            width
            for width, resolution in zip(self.widths, self.resolutions, strict=True)
            if resolution in self.attention_resolutions
        }
        attended.add(self.widths[-1])  # the middle's attention
        if any(width % heads for width in attended):
            raise ValueError(
                f"heads must divide every width with attention ({sorted(attended)}), got {heads}"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"UNetConfig({settings})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UNetConfig) and all(
            getattr(self, name) == getattr(other, name) for name in self.FIELDS
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.FIELDS))

    @property
    def time_dim(self) -> int:
        """Width of the time embedding after its MLP: ``embedding_dim``, or ``4 * base_channels``."""
        return self.embedding_dim or 4 * self.base_channels

    @classmethod
    def digits(cls) -> UNetConfig:
        """The default, for the 8×8 digits: two levels, at 8 and 4 pixels, attention at 4 (0.7 M parameters)."""
        return cls()

    @classmethod
    def mnist(cls) -> UNetConfig:
        """MNIST's 28×28 digits at 28, 14 and 7 pixels, attention at 7 (about 6 M parameters).

        28 is divisible by 4, so three levels need no padding; a fourth would (to 32).
        """
        return cls(
            image_size=28,
            in_channels=1,
            base_channels=64,
            channel_mults=(1, 2, 2),
            num_res_blocks=2,
            attention_resolutions=(7,),
            dropout=0.1,
            groups=32,
        )

    @classmethod
    def cifar10(cls) -> UNetConfig:
        """DDPM's CIFAR-10 network (Appendix B): 32×32 colour images, four levels, 35.7 M parameters."""
        return cls(
            image_size=32,
            in_channels=3,
            base_channels=128,
            channel_mults=(1, 2, 2, 2),
            num_res_blocks=2,
            attention_resolutions=(16,),
            dropout=0.1,
            groups=32,
        )


class ResidualBlock(nn.Module):
    r"""A residual block with time conditioning (DDPM Appendix B; the Wide ResNet's block).

    $$\begin{gathered}
    h = W_1 * \mathrm{SiLU}(\mathrm{GN}(x)) + A\,\mathrm{SiLU}(e), \\
    \mathrm{out} = S x + W_2 * \mathrm{Dropout}(\mathrm{SiLU}(\mathrm{GN}(h)))
    \end{gathered}$$

    with $W_1, W_2$ 3×3 convolutions, $A$ a linear map of the time embedding $e$ to one number
    per channel (added at every pixel), and $S$ the identity when the widths agree or a 1×1
    convolution when they differ. $W_2$ starts at zero, so a new block is its skip path.

    Args:
        in_channels: Channels of the input.
        out_channels: Channels of the output.
        embedding_dim: Width of the time embedding $e$.
        dropout: Dropout probability, in $[0, 1)$.
        groups: Groups of both GroupNorms; must divide both widths.

    Raises:
        ValueError: if a width is not a positive int or not divisible by ``groups``, or
            ``dropout`` is outside $[0, 1)$.

    Examples:
        >>> block = ResidualBlock(16, 32, embedding_dim=64)
        >>> block(torch.randn(2, 16, 8, 8), torch.randn(2, 64)).shape
        torch.Size([2, 32, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embedding_dim: int,
        dropout: float = 0.0,
        groups: int = 8,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if validation.positive_int(value, name) % validation.positive_int(groups, "groups"):
                raise ValueError(f"{name} must be divisible by groups = {groups}, got {value}")
        if not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(
            validation.positive_int(embedding_dim, "embedding_dim"), out_channels
        )
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The block on images ``x`` ``(B, in_channels, H, W)`` with time embeddings ``emb`` ``(B, embedding_dim)``."""
        # Exercise: eq. (C3.3) — normalise, activate and convolve x (norm1, SiLU, conv1); add the
        # time embedding, activated and projected to one number per channel (self.embedding),
        # at every pixel; normalise, activate, drop out and convolve again (norm2, SiLU,
        # self.dropout, conv2); finally add the input through the skip path.

        # $W_1 * \mathrm{SiLU}(\mathrm{GN}(x))$
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        # $+ A\,\mathrm{SiLU}(e)$, one number per example and channel, the same at every pixel
        h = h + self.embedding(nn.functional.silu(emb))[:, :, None, None]
        # $W_2 * \mathrm{Dropout}(\mathrm{SiLU}(\mathrm{GN}(h)))$
        h = self.conv2(self.dropout(nn.functional.silu(self.norm2(h))))
        # $S x + h$
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    r"""Self-attention over the $H W$ pixels of a feature map, with a residual connection.

    $$\begin{gathered}
    [Q; K; V] = W_{qkv}\,\mathrm{GN}(x), \\
    \mathrm{out} = x + W_o\,\big(V\,\mathrm{softmax}(K^\top Q / \sqrt{d})\big)
    \end{gathered}$$

    per head: $Q, K, V$ are $d \times HW$ with $d$ = ``channels / heads``, and the softmax runs
    over the keys, so that every pixel (a column of $Q$) takes a weighted average of the values
    of all pixels. $W_{qkv}$ and $W_o$ are 1×1 convolutions; the rows of $W_{qkv}$'s output are
    $Q$, then $K$, then $V$, each ``channels`` long and split into heads by consecutive blocks
    of $d$. $W_o$ starts at zero, so a new block is the identity. Each pixel attends to every
    other one: the cost grows as $(HW)^2$, which is why attention is used only at low
    resolutions.

    Args:
        channels: Channels of the feature map.
        heads: Number of attention heads; must divide ``channels``.
        groups: Groups of the GroupNorm; must divide ``channels``.

    Raises:
        ValueError: if ``channels`` is not a positive int divisible by ``heads`` and ``groups``.

    Examples:
        >>> block = AttentionBlock(32, heads=2)
        >>> x = torch.randn(2, 32, 4, 4)
        >>> torch.equal(block(x), x)  # W_o starts at zero
        True
    """

    def __init__(self, channels: int, heads: int = 1, groups: int = 8) -> None:
        super().__init__()
        channels = validation.positive_int(channels, "channels")
        for name, value in (("heads", heads), ("groups", groups)):
            if channels % validation.positive_int(value, name):
                raise ValueError(f"channels must be divisible by {name} = {value}, got {channels}")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention on feature maps ``x`` of shape ``(B, channels, H, W)``; same shape out."""
        # Exercise: eq. (C3.4) — normalise x and map it to queries, keys and values (self.qkv), each
        # split into self.heads heads of d channels over the H W pixels; weigh every pixel's
        # values by the softmax, over the keys, of the scaled query-key products; put the
        # heads back together, project with self.proj and add x.

        B, C, H, W = x.shape
        d = C // self.heads
        # $[Q; K; V] = W_{qkv}\,\mathrm{GN}(x)$, each (B, heads, d, HW)
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, d, H * W).unbind(dim=1)
        # $\mathrm{softmax}(K^\top Q / \sqrt d)$ over the keys, stored transposed:
        # weights[b, h, i, j] for query i and key j, so the softmax runs along the last axis
        weights = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) / math.sqrt(d), dim=-1)
        # every query's weighted average of the values, heads back together: (B, C, H, W)
        out = torch.einsum("bhij,bhdj->bhdi", weights, v).reshape(B, C, H, W)
        # $x + W_o(\cdot)$
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halve the resolution with a strided 3×3 convolution (DDPM's choice; the width is kept).

    Examples:
        >>> Downsample(8)(torch.zeros(1, 8, 8, 8)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        channels = validation.positive_int(channels, "channels")
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` to ``(B, C, H/2, W/2)``."""
        return self.conv(x)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour copies, then a 3×3 convolution to smooth them.

    Examples:
        >>> Upsample(8)(torch.zeros(1, 8, 4, 4)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        channels = validation.positive_int(channels, "channels")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` to ``(B, C, 2H, 2W)``."""
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class EmbeddingSequential(nn.Sequential):
    """Layers in a row, the time embedding handed to those that take it (the residual blocks).

    Examples:
        >>> stage = EmbeddingSequential(ResidualBlock(8, 16, 32), Downsample(16))
        >>> stage(torch.zeros(2, 8, 8, 8), torch.zeros(2, 32)).shape
        torch.Size([2, 16, 4, 4])
    """

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Apply every layer in turn; a ``ResidualBlock`` also gets ``emb``."""
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResidualBlock) else layer(x)
        return x


class UNet(nn.Module):
    r"""The noise predictor $\varepsilon_\theta(x_t, t)$ for images: DDPM's U-Net, sized by a config.

    The time embedding is $e = W_b\,\mathrm{SiLU}(W_a\,\mathrm{emb}(t))$, with
    ``base_channels`` sinusoidal features (eq. C3.1) and ``config.time_dim`` units. Then
    (eq. C3.5):

    - ``down``: an input 3×3 convolution, then per level ``num_res_blocks`` residual blocks
      (each followed by attention at the resolutions that have it) and, except at the last
      level, a ``Downsample``. The output of each of these stages is kept as a skip;
    - ``middle``: residual block, attention, residual block, at the lowest resolution;
    - ``up``: per level, from the lowest, ``num_res_blocks + 1`` stages, each a residual block
      (with attention where it applies) on the concatenation, along the channels, of the current
      features and the last skip not yet used; each level but the top one ends with an
      ``Upsample``. There are as many up stages as skips;
    - ``out``: GroupNorm, SiLU and a 3×3 convolution back to the image's channels, starting at
      zero.

    Args:
        config: The sizes (default: ``UNetConfig()``, for the 8×8 digits).
        generator: If given, the initial weights are drawn from it
            ([`weights_from`][diffusion_path.diffusion.networks.weights_from]).

    Raises:
        ValueError: if ``config`` is not a ``UNetConfig`` or ``generator`` not a ``torch.Generator``.

    Examples:
        >>> model = UNet(UNetConfig())
        >>> sum(p.numel() for p in model.parameters())
        701345
        >>> x, t = torch.randn(3, 1, 8, 8), torch.tensor([0, 10, 999])
        >>> model(x, t).abs().max().item()  # the last convolution starts at zero
        0.0
        >>> model(torch.randn(3, 1, 28, 28), t)
        Traceback (most recent call last):
        ValueError: x must have shape (B, 1, 8, 8), got (3, 1, 28, 28)
    """

    def __init__(
        self, config: UNetConfig | None = None, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        config = UNetConfig() if config is None else config
        if not isinstance(config, UNetConfig):
            raise ValueError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = config
        with weights_from(generator):
            self.build(config)

    def build(self, config: UNetConfig) -> None:
        """Make the layers that ``config`` describes: ``time_embed``, ``down``, ``middle``, ``up``, ``out``."""
        base, E = config.base_channels, config.time_dim

        def res(width_in: int, width_out: int) -> ResidualBlock:
            return ResidualBlock(width_in, width_out, E, config.dropout, config.groups)

        def attention(width: int) -> AttentionBlock:
            return AttentionBlock(width, config.heads, config.groups)

        self.time_embed = nn.Sequential(nn.Linear(base, E), nn.SiLU(), nn.Linear(E, E))
        # the way down: every stage's output is a skip
        self.down = nn.ModuleList(
            [EmbeddingSequential(nn.Conv2d(config.in_channels, base, 3, padding=1))]
        )
        skips, width = [base], base
        levels = len(config.channel_mults)
        for level, (out, size) in enumerate(zip(config.widths, config.resolutions, strict=True)):
            for _ in range(config.num_res_blocks):
                layers: list[nn.Module] = [res(width, out)]
                width = out
                if size in config.attention_resolutions:
                    layers.append(attention(width))
                self.down.append(EmbeddingSequential(*layers))
                skips.append(width)
            if level < levels - 1:
                self.down.append(EmbeddingSequential(Downsample(width)))
                skips.append(width)
        self.middle = EmbeddingSequential(res(width, width), attention(width), res(width, width))
        # the way up: every stage takes one skip, the last one kept first
        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            out, size = config.widths[level], config.resolutions[level]
            for block in range(config.num_res_blocks + 1):
                layers = [res(width + skips.pop(), out)]
                width = out
                if size in config.attention_resolutions:
                    layers.append(attention(width))
                if level > 0 and block == config.num_res_blocks:
                    layers.append(Upsample(width))
                self.up.append(EmbeddingSequential(*layers))
        self.out = nn.Sequential(
            nn.GroupNorm(config.groups, width),
            nn.SiLU(),
            nn.Conv2d(width, config.in_channels, 3, padding=1),
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in images ``x`` ``(B, C, H, W)`` at steps ``t`` ``(B,)``; same shape as ``x``."""
        x = validation.image_batch(x, "x", self.config.in_channels, self.config.image_size)
        t = validation.step_values(t, "t", batch=x.shape[0])

        # Exercise: eq. (C3.5) — embed the steps (eq. C3.1 with base_channels features, then
        # self.time_embed); run x through the `down` stages, keeping every stage's output as a
        # skip; then the `middle`; then each `up` stage on the current features concatenated,
        # along the channels, with the most recent skip not yet used; finish with self.out.

        # $e = W_b\,\mathrm{SiLU}(W_a\,\mathrm{emb}(t))$
        emb = self.time_embed(timestep_embedding(t, self.config.base_channels))
        h, skips = x, []
        for stage in self.down:
            h = stage(h, emb)
            skips.append(h)
        h = self.middle(h, emb)
        for stage in self.up:
            # the skip of the same resolution: the last one kept is the first one used
            h = stage(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
