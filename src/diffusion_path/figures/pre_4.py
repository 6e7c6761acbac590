"""Figures and tables of Pre-Task 4: a VAE trained on the 8×8 digits, and the PPCA ground truth.

Two VAEs are trained once per process (fixed seeds, cached): one with a 2-D code, to draw the
code space, and one with an 8-D code, which reconstructs better. The data are the 8×8 digits
that ship with scikit-learn, binarised (a pixel is 1 above half intensity) so that the Bernoulli
decoder's log-likelihood is a log-probability in nats; a fifth of them is held out.

The bounds figure is drawn with the task's own ``elbo`` and ``iwae_bound``, passed in as ``impl``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.foundations.vae import (
    PPCA,
    VAE,
    ais_log_likelihood,
    elbo,
    iwae_bound,
    train_vae,
)
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, split
from diffusion_path.tools.plotting import new_figure

#: Training steps of the figures' VAEs (a few seconds each on a laptop CPU).
STEPS = 4000
#: Held-out digits on which the likelihoods are estimated.
N_LIKELIHOOD = 100
#: Codes per digit for each bound's estimate, and the numbers of codes per IWAE estimate.
CODES = 1000
KS = (10, 100, 1000)
#: Annealed importance sampling: temperatures (after the start) and particles per digit.
AIS_TEMPERATURES = 100
AIS_PARTICLES = 100


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Binarised digits, split 80/20 with a fixed seed: (train, train labels, held-out, labels)."""
    images, labels = load_digits(labels=True)
    x = (images > 0).float()  # pixels above half intensity; images are in [-1, 1]
    train, held = split(len(x), 0.2, torch.Generator().manual_seed(0))
    return x[train], labels[train], x[held], labels[held]


@functools.cache
def _trained(latent_dim: int, steps: int) -> tuple[VAE, tuple[float, ...]]:
    """A VAE with a code of ``latent_dim`` trained ``steps`` steps on the training digits, and its losses."""
    train, _, _, _ = _digits()
    gen = torch.Generator().manual_seed(latent_dim)
    model = VAE((1, 8, 8), latent_dim=latent_dim, generator=gen)
    losses = train_vae(model, train, gen, steps=steps, batch_size=128, lr=1e-3, progress=False)
    return model, tuple(losses)


def _model(latent_dim: int) -> VAE:
    return _trained(latent_dim, scaled(STEPS, quick=30))[0]


def _show_images(ax, images: torch.Tensor, rows: int, cols: int, title: str = "") -> None:
    """Tile ``rows * cols`` 8×8 images (values in [0, 1]) into one picture on ``ax``."""
    images = images.detach().reshape(rows, cols, 8, 8)
    pad = torch.zeros(rows, cols, 10, 10)  # a white frame around each image
    pad[:, :, 1:9, 1:9] = images
    tiled = pad.permute(0, 2, 1, 3).reshape(rows * 10, cols * 10)
    ax.imshow(tiled.numpy(), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def _two_of_each_class() -> torch.Tensor:
    """Indices of the first two held-out digits of each class, 0 to 9, in class order."""
    _, _, _, labels = _digits()
    return torch.cat([torch.nonzero(labels == c)[:2, 0] for c in range(10)])


def reconstructions() -> Figure:
    """Part 2: held-out digits and their reconstructions $\\mathbb E[x \\mid z = \\mu_\\phi(x)]$, 2-D and 8-D codes."""
    _, _, held, _ = _digits()
    x = held[_two_of_each_class()]
    figure, axes = new_figure(3, 1, size=7.0)
    _show_images(axes[0], x, 1, 20, "held-out digits (binarised)")
    for ax, d in zip(axes[1:], (2, 8), strict=True):
        model = _model(d)
        with torch.no_grad():
            mean, _ = model.encode(x)
            _show_images(ax, model.decode(mean), 1, 20, f"reconstructions, {d}-D code")
    figure.set_size_inches(7.0, 3.0)
    return figure


def latent_space() -> Figure:
    """Part 3: the codes $\\mu_\\phi(x)$ of the held-out digits coloured by class, and what the decoder draws over that plane."""
    _, _, held, labels = _digits()
    model = _model(2)
    with torch.no_grad():
        mean, _ = model.encode(held)
    figure, axes = new_figure(1, 2, size=5.2)
    ax = axes[0]
    colours = [f"C{c}" for c in range(10)]
    for c in range(10):
        points = mean[labels == c].numpy()
        ax.scatter(points[:, 0], points[:, 1], s=9, alpha=0.7, color=colours[c], label=str(c))
        centre = np.median(points, axis=0)
        ax.text(centre[0], centre[1], str(c), fontsize=14, weight="bold", ha="center", va="center")
    limit = 3.0
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")
    ax.set(title="codes of held-out digits, by class", xlabel="$z_1$", ylabel="$z_2$")
    ax.legend(fontsize=7, ncol=2, loc="lower right", markerscale=1.5)
    n = 15
    grid = torch.linspace(-limit, limit, n)
    # row r, column c shows z = (grid[c], grid[n - 1 - r]): z_2 grows upwards, as in the scatter
    z = torch.stack(torch.meshgrid(grid.flip(0), grid, indexing="ij")[::-1], dim=-1).reshape(-1, 2)
    with torch.no_grad():
        images = model.decode(z)
    _show_images(axes[1], images, n, n, "decoder means over the same square")
    return figure


PAIRS = ((0, 1), (3, 8), (4, 9), (6, 2), (7, 5))


def interpolation() -> Figure:
    """Part 3: straight lines in code space between two held-out digits, decoded at ten points."""
    _, _, held, labels = _digits()
    steps = 10
    figure, axes = new_figure(2, 1, size=7.0)
    for ax, d in zip(axes, (2, 8), strict=True):
        model = _model(d)
        rows = []
        for a, b in PAIRS:
            x_a = held[torch.nonzero(labels == a)[0, 0]]
            x_b = held[torch.nonzero(labels == b)[0, 0]]
            with torch.no_grad():
                mean, _ = model.encode(torch.stack([x_a, x_b]))
                w = torch.linspace(0.0, 1.0, steps)[:, None]
                # $z = (1 - w)\mu_\phi(x_a) + w\,\mu_\phi(x_b)$
                path = model.decode((1 - w) * mean[0] + w * mean[1])
            rows.append(torch.cat([x_a[None], path, x_b[None]]))
        _show_images(
            ax,
            torch.cat(rows),
            len(PAIRS),
            steps + 2,
            f"{d}-D code: a digit, ten decoded points on the line, the other digit",
        )
    figure.set_size_inches(7.0, 7.2)
    return figure


def prior_samples() -> Figure:
    """Beyond the seed: decoder means at codes drawn from the prior, $z \\sim \\mathcal{N}(0, I)$."""
    figure, axes = new_figure(1, 2, size=4.0)
    for ax, d in zip(axes, (2, 8), strict=True):
        model = _model(d)
        z = torch.randn(100, d, generator=torch.Generator().manual_seed(10 + d))
        with torch.no_grad():
            _show_images(ax, model.decode(z), 10, 10, f"{d}-D code, $z \\sim \\mathcal{{N}}(0, I)$")
    return figure


def training() -> Figure:
    """Part 2: the loss (negative ELBO per digit) over training, for both codes."""
    figure, (ax,) = new_figure(1, 1, size=5.0)
    window = 100
    for d in (2, 8):
        losses = torch.tensor(_trained(d, scaled(STEPS, quick=30))[1])
        w = min(window, len(losses))
        smooth = torch.nn.functional.avg_pool1d(losses[None, None], w, stride=1)[0, 0]
        ax.plot(losses.numpy(), lw=0.4, alpha=0.3, color=f"C{d // 8}")
        ax.plot(range(w - 1, len(losses)), smooth.numpy(), color=f"C{d // 8}", label=f"{d}-D code")
    ax.set(
        title="training loss, $-$ELBO (nats per digit)",
        xlabel="step",
        ylim=(10, 40),
    )
    ax.legend()
    figure.set_size_inches(6.0, 3.4)
    return figure


@functools.cache
def _ais(latent_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """AIS estimates of log p(x) for the first held-out digits, and their standard errors."""
    _, _, held, _ = _digits()
    x = held[: scaled(N_LIKELIHOOD, quick=3)]
    temperatures = np.linspace(0.0, 1.0, scaled(AIS_TEMPERATURES, quick=3) + 1)
    return ais_log_likelihood(
        x,
        _model(latent_dim),
        temperatures,
        scaled(AIS_PARTICLES, quick=5),
        torch.Generator().manual_seed(20 + latent_dim),
    )


@functools.cache
def _bounds(impl, latent_dim: int) -> dict[str, torch.Tensor]:
    """Per-digit ELBO, IWAE bounds and AIS estimates on the first held-out digits.

    Each bound is an expectation; it is estimated for each digit from the same number of codes,
    ``CODES``: the ELBO as the mean of that many one-code estimates, L_k as the mean of
    ``CODES // k`` estimates.
    """
    _, _, held, _ = _digits()
    x = held[: scaled(N_LIKELIHOOD, quick=3)]
    n = x.shape[0]
    codes = scaled(CODES, quick=10)
    model = _model(latent_dim)
    gen = torch.Generator().manual_seed(30 + latent_dim)
    out = {}
    with torch.no_grad():
        draws = impl.elbo(x.repeat(codes, 1, 1, 1), model, generator=gen)[0]
        out["ELBO"] = draws.reshape(codes, n).double().mean(0)
        for k in (k for k in KS if k <= codes):
            repeats = codes // k
            draws = impl.iwae_bound(x.repeat(repeats, 1, 1, 1), model, k, generator=gen)
            out[f"IWAE, k = {k}"] = draws.reshape(repeats, n).double().mean(0)
    out["AIS"] = _ais(latent_dim)[0].double()
    return out


def bounds(impl) -> Figure:
    """Beyond the seed: on held-out digits, ELBO <= IWAE(k) <= AIS, each digit's value relative to its AIS estimate."""
    figure, axes = new_figure(1, 2, size=4.2)
    for ax, d in zip(axes, (2, 8), strict=True):
        values = dict(_bounds(impl, d))
        ais = values.pop("AIS")
        names = list(values)
        gaps = [values[name] - ais for name in names]
        means = [float(g.mean()) for g in gaps]
        errors = [float(g.std() / math.sqrt(len(g))) if len(g) > 1 else 0.0 for g in gaps]
        ax.errorbar(range(len(names)), means, yerr=errors, marker="o", capsize=3)
        ax.axhline(0.0, color="k", lw=0.8, ls="--", label="AIS")
        ax.set_xticks(range(len(names)), [n.replace("IWAE, ", "") for n in names], fontsize=8)
        ax.set(
            title=f"{d}-D code: bound minus AIS estimate",
            ylabel="nats per digit (mean ± s.e.)",
        )
        ax.legend(fontsize=8, loc="lower right")
    return figure


FIGURES = {
    "reconstructions": reconstructions,
    "training": training,
    "latent-space": latent_space,
    "interpolation": interpolation,
    "prior-samples": prior_samples,
    "bounds": bounds,
}


def likelihoods_table() -> str:
    """Mean ELBO, IWAE bounds and AIS estimate of log p(x) on held-out digits, with standard errors."""
    from diffusion_path.foundations import vae

    lines = [
        "| code | estimate | $\\log p(x)$, nats per digit | gain over the ELBO |",
        "|---|---|---:|---:|",
    ]
    for d in (2, 8):
        values = _bounds(vae, d)
        base = values["ELBO"]
        n = len(base)
        for name, value in values.items():
            se = float(value.std() / math.sqrt(n)) if n > 1 else 0.0
            gap = value - base
            gap_se = float(gap.std() / math.sqrt(n)) if n > 1 else 0.0
            gap_text = "—" if name == "ELBO" else f"{float(gap.mean()):+.2f} ± {gap_se:.2f}"
            lines.append(f"| {d}-D | {name} | {float(value.mean()):.2f} ± {se:.2f} | {gap_text} |")
    ais_se = torch.cat([_ais(d)[1] for d in (2, 8)])
    return (
        "\n".join(lines)
        + f"\n\nMeans over the same {n} held-out digits, ± one standard error over the digits. "
        f"Each digit's ELBO and IWAE bounds are estimated from {scaled(CODES, quick=10)} codes "
        "(the ELBO as the mean of as many one-code estimates, $\\mathcal L_k$ as the mean of "
        f"{scaled(CODES, quick=10)}/$k$ estimates). AIS: {scaled(AIS_TEMPERATURES, quick=3)} "
        f"temperatures and {scaled(AIS_PARTICLES, quick=5)} particles per digit, started at the "
        "encoder's $q_\\phi(z \\mid x)$; its own standard error per digit is at most "
        f"{float(ais_se.max()):.2f} nats."
    )


def _ppca() -> tuple[PPCA, torch.Tensor, torch.Tensor]:
    """A PPCA model in 5-D with a 2-D code (orthogonal columns), four of its draws and their exact log p(x)."""
    gen = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(5, 2, generator=gen, dtype=torch.float64))
    W = q * torch.tensor([2.0, 1.0], dtype=torch.float64)
    mu = torch.randn(5, generator=gen, dtype=torch.float64)
    model = PPCA(W, mu, 0.5)
    x = model.sample(4, gen)
    return model, x, model.log_marginal(x)


def ppca_table() -> str:
    """The PPCA ground truth: every estimator against the exact log p(x) of a linear-Gaussian model."""
    from diffusion_path.foundations.vae import ais_log_likelihood as ais

    model, x, exact = _ppca()
    n = x.shape[0]
    gen = torch.Generator().manual_seed(0)
    repeats = scaled(2000, quick=20)
    rows = [("exact $\\log p(x)$, (P4.11)", exact, None)]
    # the ELBO with the true posterior, estimated with one code per draw, averaged over draws
    draws = torch.stack([elbo(x, model, generator=gen)[0] for _ in range(repeats)])
    rows.append(("ELBO, $q$ = true posterior", draws.mean(0), draws.std(0) / math.sqrt(repeats)))
    prior = PPCA(model.W, model.mu, model.sigma, posterior=False)
    for k in (1, 10, 100, 1000):
        draws = torch.stack(
            [iwae_bound(x, prior, k, generator=gen) for _ in range(scaled(200, quick=5))]
        )
        rows.append(
            (
                f"IWAE, $q$ = prior, $k$ = {k}",
                draws.mean(0),
                draws.std(0) / math.sqrt(draws.shape[0]),
            )
        )
    for temperatures, label in (
        (2, "importance sampling from the prior"),
        (101, "AIS from the prior, 100 temperatures"),
    ):
        estimate, se = ais(
            x,
            model,
            np.linspace(0.0, 1.0, temperatures),
            scaled(4000, quick=50),
            gen,
            proposal="prior",
        )
        rows.append((label, estimate, se))
    header = "| estimator | " + " | ".join(f"$x^{{({i + 1})}}$" for i in range(n)) + " |"
    lines = [header, "|---|" + "---:|" * n]
    for label, value, se in rows:
        cells = [
            f"{float(value[i]):.4f}" + ("" if se is None else f" ± {float(se[i]):.4f}")
            for i in range(n)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLES = {"likelihoods": likelihoods_table, "ppca": ppca_table}
