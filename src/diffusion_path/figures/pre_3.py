"""Figures of Pre-Task 3: Markov chains, stationary distributions and the Gaussian AR(1) chain.

Each figure takes the task's functions as ``impl`` (the reference, or a learner's file with
``diffusion-path figures pre-3 --impl DIR``) and calls ``impl.simulate_chain`` and so on; the
Gaussian density comes from Pre-Task 1.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
from matplotlib.figure import Figure

from diffusion_path.foundations.gaussians import gaussian_pdf
from diffusion_path.tools.plotting import histogram_with_pdf, new_figure

#: The page's 3-state chain on (A, B, C); row i holds the probabilities of moving from state i.
P = np.array([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])
STATES = ("A", "B", "C")


def simulation(impl: ModuleType) -> Figure:
    """Part 1: one simulated path of the chain, and the fraction of 5000 chains in each state."""
    rng = np.random.default_rng(0)
    figure, axes = new_figure(1, 2, size=4.5)
    path = impl.simulate_chain(P, 0, 60, rng)
    axes[0].step(np.arange(61), path, where="post")
    axes[0].set(yticks=[0, 1, 2], yticklabels=STATES, xlabel="step t", title="one path from A")
    chains = impl.simulate_chain(P, np.zeros(5000, dtype=int), 15, rng)
    exact = impl.evolve_distribution(P, np.array([1.0, 0.0, 0.0]), 15)
    for s, name in enumerate(STATES):
        axes[1].plot(
            np.mean(chains == s, axis=1), "o", color=f"C{s}", ms=4, label=f"{name}: simulated"
        )
        axes[1].plot(exact[:, s], color=f"C{s}", lw=1.5)
    axes[1].set(
        xlabel="step t", ylabel=r"$\Pr(X_t = s)$", title=r"5000 chains vs $\mathbf{p}_0 P^t$"
    )
    axes[1].legend(fontsize=8)
    return figure


def evolution(impl: ModuleType) -> Figure:
    """Part 1 and 2: p_t from three starting distributions converges to the same stationary pi."""
    pi = impl.stationary_by_linear_solve(P)
    figure, axes = new_figure(1, 3, size=3.4, sharey=True)
    for ax, start in zip(axes, range(3), strict=True):
        p0 = np.eye(3)[start]
        p = impl.evolve_distribution(P, p0, 20)
        for s, name in enumerate(STATES):
            ax.plot(p[:, s], "o-", ms=3, color=f"C{s}", label=name)
            ax.axhline(pi[s], color=f"C{s}", ls=":", lw=1)
        ax.set(title=f"start in {STATES[start]}", xlabel="step t")
    axes[0].set_ylabel(r"$\mathbf{p}_t$ (dotted: $\boldsymbol{\pi}$)")
    axes[0].legend(fontsize=8)
    return figure


def convergence(impl: ModuleType) -> Figure:
    """Convergence speed: the distance to pi falls like |lambda_2|^t, for chains of different gaps."""
    figure, (ax,) = new_figure(1, 1, size=5.0)
    chains = {
        "page chain": P,
        "sticky": 0.9 * np.eye(3) + 0.1 * P,
        "fast": np.array([[0.2, 0.4, 0.4], [0.4, 0.2, 0.4], [0.35, 0.35, 0.3]]),
    }
    t = np.arange(31)
    for k, (name, Q) in enumerate(chains.items()):
        pi = impl.stationary_by_linear_solve(Q)
        p = impl.evolve_distribution(Q, np.array([1.0, 0.0, 0.0]), 30)
        distance = np.abs(p - pi).sum(axis=1)
        lam = impl.second_eigenvalue(Q)
        ax.plot(t, distance, "o", ms=3, color=f"C{k}", label=rf"{name}: $|\lambda_2| = {lam:.2f}$")
        ax.plot(t, distance[0] * lam**t, color=f"C{k}", lw=1)
    ax.set(
        yscale="log",
        ylim=(1e-16, 3),
        xlabel="step t",
        ylabel=r"$\|\mathbf{p}_t - \boldsymbol{\pi}\|_1$",
    )
    ax.set_title(r"distance to $\boldsymbol{\pi}$ (lines: $|\lambda_2|^t$)")
    ax.legend(fontsize=8)
    return figure


def walk(impl: ModuleType) -> Figure:
    """A simple random walk: paths spread like sqrt(t), and X_t is a shifted binomial."""
    rng = np.random.default_rng(1)
    figure, axes = new_figure(1, 2, size=4.5)
    X = impl.random_walk(200, rng, n_walks=20_000)
    t = np.arange(201)
    axes[0].plot(X[:, :25], lw=0.7)
    axes[0].plot(t, 2 * np.sqrt(t), "k--", lw=1.5, label=r"$\pm 2\sqrt{t}$")
    axes[0].plot(t, -2 * np.sqrt(t), "k--", lw=1.5)
    axes[0].set(xlabel="step t", ylabel="$X_t$", title="25 random walks")
    axes[0].legend(fontsize=8)
    values, counts = np.unique(X[-1], return_counts=True)
    axes[1].bar(values, counts / counts.sum() / 2, width=1.6, alpha=0.5, label="20 000 walks")
    k = (values + 200) // 2
    exact = np.array([math.comb(200, int(j)) for j in k], dtype=float) / 2.0**200
    axes[1].plot(values, exact / 2, "k.", label="binomial law / 2")
    axes[1].plot(
        values, gaussian_pdf(values, 0.0, math.sqrt(200)), "C3", lw=1, label=r"$\mathcal{N}(0, t)$"
    )
    axes[1].set(xlabel="$X_{200}$", title="where the walks end (t = 200)")
    axes[1].legend(fontsize=8)
    return figure


def ar1(impl: ModuleType) -> Figure:
    """The Gaussian AR(1) chain forgets x0: paths, and histograms against the closed-form marginal."""
    rng = np.random.default_rng(2)
    beta, T = 0.05, 100
    figure, axes = new_figure(1, 2, size=4.6)
    for x0, color in ((3.0, "C0"), (-3.0, "C1")):
        path = impl.ar1_chain(np.full(10, x0), beta, T, rng)
        axes[0].plot(path, color=color, lw=0.6, alpha=0.7)
        t = np.arange(T + 1)
        mean = np.sqrt((1 - beta) ** t) * x0
        sd = np.sqrt(1 - (1 - beta) ** t)
        axes[0].plot(t, mean, color=color, lw=2)
        axes[0].fill_between(t, mean - 2 * sd, mean + 2 * sd, color=color, alpha=0.15)
    axes[0].set(
        xlabel="step t",
        ylabel="$x_t$",
        title=r"$\beta = 0.05$: mean $\pm 2$ sd of $q(x_t \mid x_0)$",
    )
    many = impl.ar1_chain(np.full(20_000, 3.0), beta, T, rng)
    for t, color in ((5, "C2"), (20, "C3"), (100, "C4")):
        mean, var = impl.ar1_marginal(3.0, beta, t)
        histogram_with_pdf(
            axes[1],
            many[t],
            lambda x, m=float(mean), v=var: gaussian_pdf(x, m, math.sqrt(v)),
            60,
            f"t = {t}",
            color,
        )
    axes[1].set(xlabel="$x_t$", title="from $x_0 = 3$: histograms vs closed form")
    axes[1].legend(fontsize=8)
    return figure


FIGURES = {
    "simulation": simulation,
    "evolution": evolution,
    "convergence": convergence,
    "random-walk": walk,
    "ar1": ar1,
}
