"""Figures of Pre-Task 1: Gaussian distributions (every one from a fixed seed).

A figure drawn with the task's functions takes them as ``impl`` (the reference, or a learner's
file with ``diffusion-path figures pre-1 --impl DIR``) and calls ``impl.sample_mvn`` and so on.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
from matplotlib.figure import Figure

from diffusion_path.tools.plotting import density_contour, grid_2d, histogram_with_pdf, new_figure

MEAN = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.8], [0.8, 1.5]])


def histogram(impl: ModuleType) -> Figure:
    """Part 1: 10 000 samples of N(2, 0.5²) against the density that generated them."""
    x = impl.sample_gaussian(2.0, 0.5, 10_000, np.random.default_rng(0))
    figure, (ax,) = new_figure(1, 1, size=4.5)
    histogram_with_pdf(ax, x, lambda t: impl.gaussian_pdf(t, 2.0, 0.5), label="10 000 samples")
    ax.set(xlabel="x", ylabel="density", title=r"samples of $\mathcal{N}(2, 0.5^2)$ and $p(x)$")
    ax.legend()
    return figure


def mu_and_sigma(impl: ModuleType) -> Figure:
    """Part 1 experiments: moving μ shifts the bell, σ widens it; the sample size sets the noise."""
    figure, axes = new_figure(1, 3)
    rng = np.random.default_rng(1)
    x = np.linspace(-7, 7, 400)
    for mu in (-2.0, 0.0, 3.0):
        axes[0].plot(x, impl.gaussian_pdf(x, mu, 1.0), label=rf"$\mu={mu:g}$")
    axes[0].set_title(r"changing $\mu$ ($\sigma = 1$)")
    for sigma in (0.5, 1.0, 2.0):
        axes[1].plot(x, impl.gaussian_pdf(x, 0.0, sigma), label=rf"$\sigma={sigma:g}$")
    axes[1].set_title(r"changing $\sigma$ ($\mu = 0$)")
    for n, color in ((50, "C0"), (5_000, "C1")):
        histogram_with_pdf(
            axes[2], impl.sample_gaussian(0.0, 1.0, n, rng), impl.gaussian_pdf, 30, f"n={n}", color
        )
    axes[2].set_title("more samples, closer fit")
    for ax in axes:
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    return figure


def scatter_and_contour(impl: ModuleType) -> Figure:
    """Part 2: 2-D samples with the density's contours, and the filled density."""
    x = impl.sample_mvn(MEAN, COV, 2_000, np.random.default_rng(2))
    figure, axes = new_figure(1, 2, size=4.2)
    lim = (-4.0, 5.5), (-5.0, 4.0)
    axes[0].scatter(x[:, 0], x[:, 1], s=3, alpha=0.4)
    density_contour(axes[0], lambda g: impl.mvn_pdf(g, MEAN, COV), *lim, colors="k", linewidths=1)
    axes[0].set_title("2 000 samples and density contours")
    density_contour(axes[1], lambda g: impl.mvn_pdf(g, MEAN, COV), *lim, levels=20, filled=True)
    axes[1].set_title(r"density of $\mathcal{N}(\boldsymbol{\mu}, \Sigma)$")
    for ax in axes:
        ax.set(xlabel="$x_1$", ylabel="$x_2$")
    return figure


def surface(impl: ModuleType) -> Figure:
    """Part 2: the 2-D density as a 3-D surface."""
    grid = grid_2d((-3.0, 5.0), (-4.5, 3.5), n=80)
    z = impl.mvn_pdf(grid, MEAN, COV)
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = figure.add_subplot(projection="3d")
    ax.plot_surface(grid[..., 0], grid[..., 1], z, cmap="viridis", linewidth=0, antialiased=True)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="density")
    ax.set_title(r"$p(\mathbf{x})$ as a surface")
    return figure


def covariances(impl: ModuleType) -> Figure:
    """Part 2 experiments: the same mean with four covariance matrices, and a moved mean."""
    cases = [
        ("isotropic", np.zeros(2), np.eye(2)),
        ("axis-aligned", np.zeros(2), np.diag([2.5, 0.4])),
        (r"correlated, $\rho=0.9$", np.zeros(2), np.array([[1.0, 0.9], [0.9, 1.0]])),
        (r"anti-correlated, $\rho=-0.6$", np.zeros(2), np.array([[1.0, -0.6], [-0.6, 1.0]])),
        (r"moved mean $\mu=(2, -1)$", np.array([2.0, -1.0]), np.eye(2)),
    ]
    figure, axes = new_figure(1, len(cases), size=2.9)
    rng = np.random.default_rng(3)
    for ax, (title, mean, cov) in zip(axes, cases, strict=True):
        x = impl.sample_mvn(mean, cov, 800, rng)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4)
        box = (mean[0] - 4, mean[0] + 4), (mean[1] - 4, mean[1] + 4)
        density_contour(ax, lambda g, m=mean, c=cov: impl.mvn_pdf(g, m, c), *box, 5, colors="k")
        ax.set_title(title, fontsize=9)
    return figure


def reparameterisation() -> Figure:
    """x = μ + Lε: the same standard-normal draws, before and after the affine map."""
    eps = np.random.default_rng(4).standard_normal((600, 2))
    chol = np.linalg.cholesky(COV)
    x = MEAN + eps @ chol.T
    figure, axes = new_figure(1, 2, size=3.8)
    colors = np.arctan2(eps[:, 1], eps[:, 0])
    axes[0].scatter(eps[:, 0], eps[:, 1], c=colors, s=4, cmap="hsv")
    axes[0].set_title(r"$\boldsymbol{\varepsilon} \sim \mathcal{N}(0, I)$")
    axes[1].scatter(x[:, 0], x[:, 1], c=colors, s=4, cmap="hsv")
    axes[1].set_title(r"$\mathbf{x} = \boldsymbol{\mu} + L\boldsymbol{\varepsilon}$")
    for ax in axes:
        ax.set(xlim=(-4, 5), ylim=(-4.5, 4.5), aspect="equal")
    return figure


def kl_convergence(impl: ModuleType) -> Figure:
    """The Monte-Carlo KL estimate and its error bar close in on the closed form as n grows."""
    mean_q, cov_q = np.zeros(2), np.eye(2)
    exact = impl.kl_gaussians(MEAN, COV, mean_q, cov_q)
    ns = np.array([10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000])
    rng = np.random.default_rng(5)
    estimates = [impl.kl_monte_carlo(MEAN, COV, mean_q, cov_q, int(n), rng) for n in ns]
    est, se = np.array(estimates).T
    figure, (ax,) = new_figure(1, 1, size=4.8)
    ax.axhline(exact, color="k", lw=1.5, label=f"closed form = {exact:.3f}")
    ax.errorbar(ns, est, yerr=2 * se, fmt="o", capsize=3, label="Monte Carlo ± 2 s.e.")
    ax.set(xscale="log", xlabel="samples n", ylabel="KL(p || q)  [nats]")
    ax.set_title(r"KL$(\mathcal{N}(\mu, \Sigma)\,\|\,\mathcal{N}(0, I))$")
    ax.legend()
    return figure


FIGURES = {
    "histogram": histogram,
    "mu-sigma": mu_and_sigma,
    "scatter-contour": scatter_and_contour,
    "surface": surface,
    "covariances": covariances,
    "reparameterisation": reparameterisation,
    "kl-convergence": kl_convergence,
}
