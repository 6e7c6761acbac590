"""Figures and tables of Pre-Task 2: sampling, from inverse-CDF to annealed importance sampling.

Every figure starts from a fixed seed. A figure drawn with the task's own functions takes them
as ``impl`` (the reference solution, or a learner's file with
``diffusion-path figures pre-2 --impl DIR``). The AIS table is recomputed from the reference at
each site build by [`ais_runs`][diffusion_path.figures.pre_2.ais_runs] (about a second).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from diffusion_path.foundations import sampling
from diffusion_path.foundations.gaussians import gaussian_pdf, mvn_log_pdf, mvn_pdf, sample_mvn
from diffusion_path.tools.plotting import density_contour, histogram_with_pdf, new_figure

# The 2-D two-mode target of the AIS experiment: f(x) = N(x; a, s^2 I) + N(x; -a, s^2 I)
# without the normalisers 1 / (2 pi s^2), so Z = 2 (2 pi s^2) exactly.
MODE = np.array([2.0, 2.0])
MODE_SD = 0.5
PRIOR_SD = 3.0
TEMPERATURES = (1, 10, 100, 1000)
AIS_PARTICLES = 1000


def two_mode_log_target(x: np.ndarray) -> np.ndarray:
    """log f(x) for the two-mode target: log[exp(-|x - a|^2 / 2s^2) + exp(-|x + a|^2 / 2s^2)]."""
    d1 = np.sum((x - MODE) ** 2, axis=-1)
    d2 = np.sum((x + MODE) ** 2, axis=-1)
    return np.logaddexp(-d1 / (2 * MODE_SD**2), -d2 / (2 * MODE_SD**2))


def two_mode_log_z() -> float:
    """Exact log Z of the two-mode target: log(2 * 2 pi s^2)."""
    return math.log(2 * 2 * math.pi * MODE_SD**2)


def prior_log_pdf(x: np.ndarray) -> np.ndarray:
    """log N(x; 0, PRIOR_SD^2 I) in 2-D."""
    return mvn_log_pdf(x, np.zeros(2), PRIOR_SD**2 * np.eye(2))


def sample_prior(n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of N(0, PRIOR_SD^2 I) in 2-D."""
    return PRIOR_SD * rng.standard_normal((n, 2))


# ----------------------------------------------------------------------------- Parts 1-3
def _families(impl, sd: float) -> list[tuple[str, np.ndarray, object]]:
    """Samples and densities of the four families, each with standard deviation ``sd``."""
    rng = np.random.default_rng(0)
    n = 20_000
    half = math.sqrt(3) * sd  # U(-h, h) has variance h^2 / 3
    b = sd / math.sqrt(2)  # Laplace(0, b) has variance 2 b^2
    return [
        (
            rf"Uniform$(-{half:.2g}, {half:.2g})$",
            impl.sample_uniform(-half, half, n, rng),
            lambda x: impl.uniform_pdf(x, -half, half),
        ),
        (
            rf"Gaussian $\mathcal{{N}}(0, {sd:g}^2)$",
            sd * impl.box_muller(n, rng),
            lambda x: gaussian_pdf(x, 0.0, sd),
        ),
        (
            rf"Exponential, rate ${1 / sd:g}$",
            impl.sample_exponential(1 / sd, n, rng),
            lambda x: impl.exponential_pdf(x, 1 / sd),
        ),
        (
            rf"Laplace$(0, {b:.2g})$",
            impl.sample_laplace(0.0, b, n, rng),
            lambda x: impl.laplace_pdf(x, 0.0, b),
        ),
    ]


def histograms(impl) -> Figure:
    """Part 1: samples of the four families against the densities that generated them."""
    figure, axes = new_figure(1, 4, size=3.0)
    for ax, (title, x, pdf) in zip(axes, _families(impl, 1.0), strict=True):
        histogram_with_pdf(ax, x, pdf, bins=60)
        ax.set(title=title, xlabel="x")
    axes[0].set_ylabel("density")
    return figure


def parameters(impl) -> Figure:
    """Part 1 and Part 2: each family with a small and a large spread (standard deviation 0.5 and 2)."""
    figure, axes = new_figure(1, 4, size=3.0)
    small, large = _families(impl, 0.5), _families(impl, 2.0)
    names = ("Uniform", "Gaussian", "Exponential", "Laplace")
    for ax, name, (_, x_small, p_small), (_, x_large, p_large) in zip(
        axes, names, small, large, strict=True
    ):
        histogram_with_pdf(ax, x_small, p_small, 60, "sd 0.5", "C0")
        histogram_with_pdf(ax, x_large, p_large, 60, "sd 2", "C1")
        ax.set(title=name, xlabel="x", xlim=(-7, 9))
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density")
    return figure


def all_in_one(impl) -> Figure:
    """Part 2: the four densities on one graph, all with variance 1, and their log-densities."""
    figure, axes = new_figure(1, 2, size=4.6)
    x = np.linspace(-5, 5, 1001)
    curves = [
        ("Uniform", impl.uniform_pdf(x, -math.sqrt(3), math.sqrt(3))),
        ("Gaussian", gaussian_pdf(x, 0.0, 1.0)),
        ("Exponential (mean 1)", impl.exponential_pdf(x, 1.0)),
        ("Laplace", impl.laplace_pdf(x, 0.0, 1 / math.sqrt(2))),
    ]
    for label, p in curves:
        axes[0].plot(x, p, lw=2, label=label)
        with np.errstate(divide="ignore"):
            axes[1].plot(x, np.log(p), lw=2, label=label)
    axes[0].set(title="densities with variance 1", xlabel="x", ylabel="p(x)")
    axes[1].set(title="log-densities: the tails", xlabel="x", ylabel="log p(x)", ylim=(-9, 1))
    axes[0].legend(fontsize=8)
    return figure


def inverse_cdf(impl) -> Figure:
    """Inverse-CDF sampling: uniform heights u are mapped through F^{-1} to exponential samples."""
    figure, axes = new_figure(1, 2, size=4.3)
    x = np.linspace(0, 5, 400)
    axes[0].plot(x, 1 - np.exp(-x), "k", lw=2, label=r"$F(x) = 1 - e^{-x}$")
    for u in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97):
        q = -math.log(1 - u)
        axes[0].annotate(
            "", xy=(q, 0), xytext=(q, u), arrowprops={"arrowstyle": "->", "color": "C1"}
        )
        axes[0].plot([0, q], [u, u], color="C1", lw=1)
    axes[0].set(title=r"$x = F^{-1}(u)$: from the $u$-axis down to $x$", xlabel="x", ylabel="u")
    axes[0].legend(loc="lower right")
    rng = np.random.default_rng(1)
    histogram_with_pdf(axes[1], impl.sample_exponential(1.0, 20_000, rng), impl.exponential_pdf, 80)
    axes[1].set(title="20 000 samples of Exp(1) from uniforms", xlabel="x", xlim=(0, 6))
    return figure


def box_muller_map() -> Figure:
    """Box–Muller: uniform pairs (u1, u2) become a radius and an angle, i.e. a 2-D standard normal."""
    rng = np.random.default_rng(2)
    u1, u2 = 1 - rng.random(1500), rng.random(1500)
    r, theta = np.sqrt(-2 * np.log(u1)), 2 * math.pi * u2
    figure, axes = new_figure(1, 2, size=4.0)
    axes[0].scatter(u1, u2, c=u2, s=4, cmap="hsv")
    axes[0].set(title=r"$(u_1, u_2) \sim \mathcal{U}(0, 1)^2$", xlabel="$u_1$", ylabel="$u_2$")
    axes[1].scatter(r * np.cos(theta), r * np.sin(theta), c=u2, s=4, cmap="hsv")
    axes[1].set(
        title=r"$(r\cos\theta, r\sin\theta)$, $r = \sqrt{-2\log u_1}$",
        xlabel="$z_1$",
        ylabel="$z_2$",
        aspect="equal",
        xlim=(-4, 4),
        ylim=(-4, 4),
    )
    return figure


def scatter_contour_2d(impl) -> Figure:
    """Part 3: 2-D Gaussian and 2-D uniform samples with contours of their densities."""
    figure, axes = new_figure(1, 2, size=4.3)
    rng = np.random.default_rng(3)
    mean, cov = np.array([0.5, -0.5]), np.array([[1.0, 0.7], [0.7, 1.5]])
    x = sample_mvn(mean, cov, 2000, rng)
    lim = (-4.0, 4.0), (-4.5, 3.5)
    axes[0].scatter(x[:, 0], x[:, 1], s=3, alpha=0.4)
    density_contour(axes[0], lambda g: mvn_pdf(g, mean, cov), *lim, colors="k", linewidths=1)
    axes[0].set_title("Gaussian: elliptical contours")
    low, high = np.array([-2.0, -1.0]), np.array([2.0, 1.5])
    y = impl.sample_uniform_box(low, high, 2000, rng)
    density_contour(
        axes[1],
        lambda g: impl.uniform_box_pdf(g, low, high),
        (-3, 3),
        (-2.5, 2.5),
        3,
        True,
        cmap="Blues",
    )
    axes[1].scatter(y[:, 0], y[:, 1], s=3, alpha=0.5, color="C1")
    axes[1].set_title("Uniform on a box: flat inside, zero outside")
    for ax in axes:
        ax.set(xlabel="$x_1$", ylabel="$x_2$")
    return figure


# ----------------------------------------------------------------------------- beyond the seed
def _bimodal_log_f(x: np.ndarray) -> np.ndarray:
    """An unnormalised 1-D two-bump density used by the rejection and MCMC figures."""
    return np.logaddexp(-0.5 * ((x + 1.5) / 0.6) ** 2, math.log(0.6) - 0.5 * ((x - 1.5) / 0.8) ** 2)


def _bimodal_z() -> float:
    return math.sqrt(2 * math.pi) * (0.6 + 0.6 * 0.8)


def rejection(impl) -> Figure:
    """Rejection sampling: points under f are kept, points between f and M q are thrown away."""
    rng = np.random.default_rng(4)
    q_sd = 2.5
    log_q = lambda x: np.log(gaussian_pdf(x, 0.0, q_sd))  # noqa: E731
    grid = np.linspace(-8, 8, 4001)
    log_M = float(np.max(_bimodal_log_f(grid) - log_q(grid))) + 0.01
    x = q_sd * rng.standard_normal(1500)
    height = np.exp(log_M + log_q(x)) * rng.random(1500)
    keep = height <= np.exp(_bimodal_log_f(x))
    figure, axes = new_figure(1, 2, size=4.4)
    t = np.linspace(-7, 7, 600)
    axes[0].plot(t, np.exp(_bimodal_log_f(t)), "k", lw=2, label="f(x)")
    axes[0].plot(t, np.exp(log_M + log_q(t)), "C3", lw=2, label="M q(x)")
    axes[0].scatter(x[keep], height[keep], s=3, color="C0", label="accepted")
    axes[0].scatter(x[~keep], height[~keep], s=3, color="C7", alpha=0.5, label="rejected")
    axes[0].set(title=f"accepted {keep.mean():.0%} of proposals", xlabel="x", xlim=(-7, 7))
    axes[0].legend(fontsize=8)
    samples, rate = impl.rejection_sample(
        _bimodal_log_f, lambda m, r: q_sd * r.standard_normal(m), log_q, log_M, 20_000, rng
    )
    histogram_with_pdf(axes[1], samples, lambda s: np.exp(_bimodal_log_f(s)) / _bimodal_z(), 80)
    axes[1].set(title=f"20 000 accepted samples (rate {rate:.2f} = Z / M)", xlabel="x")
    return figure


def importance(impl) -> Figure:
    """Importance sampling: the spread of the weights, and the ESS, depend on the proposal's width."""
    rng = np.random.default_rng(5)
    target = lambda x: -0.5 * ((x - 1.0) / 0.5) ** 2  # noqa: E731
    widths = np.array([0.3, 0.5, 0.8, 1.2, 2.0, 3.0, 5.0, 8.0])
    n = 2000
    ess = []
    figure, axes = new_figure(1, 2, size=4.4)
    for width in widths:
        x, log_w = impl.importance_sampling(
            target,
            lambda m, r, s=width: 1.0 + s * r.standard_normal(m),
            lambda y, s=width: np.log(gaussian_pdf(y, 1.0, s)),
            n,
            rng,
        )
        ess.append(impl.effective_sample_size(log_w))
        if width in (0.3, 2.0):
            order = np.argsort(x)
            axes[0].plot(x[order], np.exp(log_w[order]), label=f"proposal sd {width:g}")
    axes[0].set(title="weights w(x) = f(x) / q(x)", xlabel="x", ylabel="w", yscale="log")
    axes[0].legend(fontsize=8)
    axes[1].plot(widths, ess, "o-", label="ESS")
    axes[1].set(xscale="log", xlabel="proposal standard deviation (target sd 0.5)", ylabel="ESS")
    axes[1].set_title(f"effective sample size out of n = {n}")
    axes[1].axvline(0.5, color="k", ls=":", lw=1)
    return figure


def mcmc(impl) -> Figure:
    """Metropolis–Hastings and Langevin dynamics on a two-bump target: traces and histograms."""
    rng = np.random.default_rng(6)
    figure, axes = new_figure(1, 3, size=3.6)
    path, rate = impl.metropolis_hastings(_bimodal_log_f, np.array([-4.0]), 3000, 1.5, rng)
    axes[0].plot(path[:, 0], lw=0.6)
    axes[0].set(
        title=f"one Metropolis–Hastings chain (accept {rate:.0%})", xlabel="step", ylabel="x"
    )
    chains, _ = impl.metropolis_hastings(_bimodal_log_f, rng.normal(0, 3, 5000), 200, 1.5, rng)
    pdf = lambda s: np.exp(_bimodal_log_f(s)) / _bimodal_z()  # noqa: E731
    histogram_with_pdf(axes[1], chains[-1], pdf, 70, "5000 chains, step 200")
    # the share of the mass left of the trough between the bumps: the target's, by quadrature
    grid = np.linspace(-1.5, 1.5, 30_001)
    trough = grid[np.argmin(_bimodal_log_f(grid))]
    left = np.linspace(-12.0, trough, 200_001)
    target = float(np.sum(pdf(left)) * (left[1] - left[0]))

    def share(x: np.ndarray) -> str:
        p = float(np.mean(x < trough))
        return (
            f"left of the trough {p:.3f} ± {math.sqrt(p * (1 - p) / x.size):.3f} (p: {target:.3f})"
        )

    axes[1].set_title(f"MH: final states vs p(x)\n{share(chains[-1])}", fontsize=9)
    axes[1].set(xlabel="x")

    def score(x):
        # d/dx log f for the two-bump mixture: responsibilities times the bumps' scores
        a = -0.5 * ((x + 1.5) / 0.6) ** 2
        b = math.log(0.6) - 0.5 * ((x - 1.5) / 0.8) ** 2
        r = 1 / (1 + np.exp(b - a))
        return r * (-(x + 1.5) / 0.36) + (1 - r) * (-(x - 1.5) / 0.64)

    lang = impl.langevin_dynamics(score, rng.normal(0, 3, 5000), 500, 0.01, rng)
    histogram_with_pdf(axes[2], lang[-1], pdf, 70, "Langevin, 500 steps")
    axes[2].set_title("Langevin, 500 steps: only the score is used\n" + share(lang[-1]), fontsize=9)
    axes[2].set(xlabel="x")
    return figure


def langevin_2d(impl) -> Figure:
    """Langevin trajectories following the score of the 2-D two-mode target into its modes."""
    rng = np.random.default_rng(7)

    def score(x):
        w1 = -np.sum((x - MODE) ** 2, axis=-1) / (2 * MODE_SD**2)
        w2 = -np.sum((x + MODE) ** 2, axis=-1) / (2 * MODE_SD**2)
        r = (1 / (1 + np.exp(w2 - w1)))[:, None]
        return (r * (MODE - x) + (1 - r) * (-MODE - x)) / MODE_SD**2

    path = impl.langevin_dynamics(score, rng.uniform(-4, 4, (12, 2)), 200, 0.005, rng)
    figure, (ax,) = new_figure(1, 1, size=4.8)
    density_contour(ax, lambda g: np.exp(two_mode_log_target(g)), (-4.5, 4.5), (-4.5, 4.5), 8)
    for k in range(path.shape[1]):
        ax.plot(path[:, k, 0], path[:, k, 1], lw=0.8)
        ax.scatter(*path[0, k], s=12, color="k")
    ax.set(title="Langevin paths climb the score into the modes", xlabel="$x_1$", ylabel="$x_2$")
    return figure


# ----------------------------------------------------------------------------- AIS
def ais_runs(
    temperatures: tuple[int, ...] = TEMPERATURES, n: int = AIS_PARTICLES, impl=sampling
) -> list[dict]:
    """AIS on the 2-D two-mode target from a N(0, 3^2 I) prior, for each number of temperatures K.

    Each run uses the linear schedule ``np.linspace(0, 1, K + 1)`` of inverse temperatures, one
    Metropolis–Hastings step per temperature and ``n`` particles; ``K = 1`` is plain importance
    sampling. The runs use ``impl``'s functions (by default the reference solution's).

    Returns:
        One dict per K: ``K``, ``log_z``, ``se``, ``truth``, ``error``, ``mean_log_w``, ``ess``.
    """
    truth = two_mode_log_z()
    rows = []
    for K in temperatures:
        _, log_w = impl.annealed_importance_sampling(
            two_mode_log_target,
            prior_log_pdf,
            sample_prior,
            np.linspace(0.0, 1.0, K + 1),
            n,
            np.random.default_rng(K),
            1,
            0.5,
        )
        log_z, se = impl.log_z_estimate(log_w)
        rows.append(
            {
                "K": K,
                "log_z": log_z,
                "se": se,
                "truth": truth,
                "error": log_z - truth,
                "mean_log_w": float(np.mean(log_w)),
                "ess": impl.effective_sample_size(log_w),
            }
        )
    return rows


def ais_table() -> str:
    """Markdown table: temperatures K -> estimate of log Z, its error, mean log w and ESS (the reference)."""
    rows = ais_runs()
    lines = [
        f"| temperatures K | estimate of log Z (exact {rows[0]['truth']:.4f}) | standard error "
        f"| error | mean log w (lower bound) | ESS (of {AIS_PARTICLES}) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['K']} | {row['log_z']:.4f} | {row['se']:.4f} | {row['error']:+.4f} "
            f"| {row['mean_log_w']:.3f} | {row['ess']:.0f} |"
        )
    return "\n".join(lines)


def ais(impl) -> Figure:
    """AIS: the geometric path from the prior to the two-mode target, and the particles at the end."""
    figure, axes = new_figure(1, 4, size=3.2)
    lim = (-6.0, 6.0), (-6.0, 6.0)
    for ax, gamma in zip(axes[:3], (0.0, 0.05, 1.0), strict=True):

        def density(g, gamma=gamma):
            flat = g.reshape(-1, 2)
            log_f = impl.annealed_log_density(flat, two_mode_log_target, prior_log_pdf, gamma)
            return np.exp(log_f).reshape(g.shape[:-1])

        density_contour(ax, density, *lim, 12, filled=True, cmap="viridis")
        ax.set_title(rf"$f_\gamma$ with $\gamma = {gamma:g}$")
    x, log_w = impl.annealed_importance_sampling(
        two_mode_log_target,
        prior_log_pdf,
        sample_prior,
        np.linspace(0.0, 1.0, 101),
        600,
        np.random.default_rng(8),
    )
    w = np.exp(log_w - log_w.max())
    axes[3].scatter(x[:, 0], x[:, 1], s=4 + 40 * w / w.max(), alpha=0.5)
    axes[3].set(xlim=lim[0], ylim=lim[1], aspect="equal")
    axes[3].set_title(f"particles at γ = 1 (ESS {impl.effective_sample_size(log_w):.0f} of 600)")
    return figure


def ais_convergence(impl) -> Figure:
    """AIS: the log Z estimate with ± 2 s.e., the lower bound mean log w, and the ESS against K."""
    rows = ais_runs(impl=impl)
    K = np.array([row["K"] for row in rows])
    figure, axes = new_figure(1, 2, size=4.4)
    axes[0].axhline(rows[0]["truth"], color="k", lw=1.5, label="exact log Z")
    axes[0].errorbar(
        K,
        [row["log_z"] for row in rows],
        yerr=[2 * row["se"] for row in rows],
        fmt="o",
        capsize=3,
        label=r"$\log \frac{1}{n}\sum_i w_i$ ± 2 s.e.",
    )
    axes[0].plot(K, [row["mean_log_w"] for row in rows], "s--", label="mean log w (lower bound)")
    axes[0].set(xscale="log", xlabel="temperatures K", ylabel="log Z", ylim=(-25, 5))
    axes[0].legend(fontsize=8)
    axes[1].plot(K, [row["ess"] for row in rows], "o-")
    axes[1].set(xscale="log", xlabel="temperatures K", ylabel="ESS", ylim=(0, AIS_PARTICLES))
    axes[1].set_title(f"effective sample size of {AIS_PARTICLES} particles")
    return figure


FIGURES = {
    "histograms": histograms,
    "parameters": parameters,
    "all-in-one": all_in_one,
    "inverse-cdf": inverse_cdf,
    "box-muller": box_muller_map,
    "scatter-contour-2d": scatter_contour_2d,
    "rejection": rejection,
    "importance": importance,
    "mcmc": mcmc,
    "langevin-2d": langevin_2d,
    "ais": ais,
    "ais-convergence": ais_convergence,
}

TABLES = {"ais": ais_table}
