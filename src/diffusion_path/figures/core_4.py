"""Figures and tables of Core Task 4: the bound's terms, the bound of Gaussian data, and the three objectives.

Figures drawn with the task's own functions take them as ``impl``: the terms of the bound
(``impl.vlb_terms`` for Gaussian data; ``impl.vlb_term`` and ``impl.prior_kl`` for the digits,
where one pass over the steps gives the bound of two chains and two variances from the same
network outputs), bits per dimension (``impl.bits_per_dim``), the training losses
(``impl.training_losses``) and the step sampler (``impl.ImportanceSampler``). Networks are trained
here with fixed seeds and kept for the process (``functools.cache``), so the figures and tables
that show the same network train it once. Quick runs (``DIFFUSION_PATH_QUICK``) train for a few
steps only: they prove the code runs, not that the network learns.

The digit models are trained on Core Task 3's cosine schedule, $T = 200$, whose last $\beta_T$ is
clipped at 0.999. Their bound is measured on two chains that share the first 199 steps: that
schedule, and the same schedule without its clipped last step ($T = 199$, ``unclipped_schedule``).

Steps are counted as on the page, from 1 to T: step ``t`` is the schedule's index ``t - 1``, and
column ``t`` of the terms is $L_t$ (column 0 the decoder's $L_0$, column T the prior's $L_T$).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.networks import NoiseMLP, timestep_embedding, weights_from
from diffusion_path.diffusion.reverse import ddpm_sample, predict_x0_from_eps, q_posterior
from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.diffusion.training import TrainConfig, train
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, split
from diffusion_path.tools.oracle import GaussianOracle
from diffusion_path.tools.plotting import new_figure, outlined_grid

#: Steps of the digit experiments (cosine schedule, as in Core Task 3), and the digits' grey levels.
T_DIGITS, LEVELS = 200, 17
#: Dimension and sample size of the Gaussian test of the bound.
D_GAUSS = 4
#: The entropy of N(0, 1), nats: the bound of N(0, I) data per dimension when it is tight.
ENTROPY = 0.5 * math.log(2 * math.pi * math.e)
#: The three models of Part 3: name, objective, the variances it is measured with, importance-sampled steps.
OBJECTIVES = (
    ("simple", "simple", ("beta_tilde", "beta"), False),
    ("hybrid", "hybrid", ("learned",), False),
    ("vlb", "vlb", ("learned",), True),
)
#: The finding of the clipped step: Core Task 3's plain MLP (``NoiseMLP``) on the simple loss.
PLAIN = ("plain", "simple", ("beta_tilde",), False)
LABELS = {
    "simple": r"$L_{\mathrm{simple}}$, $\sigma_t^2 = \tilde\beta_t$",
    "hybrid": r"$L_{\mathrm{hybrid}}$, learned $\sigma_t^2$",
    "vlb": r"$L_{\mathrm{vlb}}$, learned $\sigma_t^2$, importance-sampled $t$",
}
COLORS = {"simple": "C0", "hybrid": "C1", "vlb": "C2"}
SYMBOLS = {"beta_tilde": r"$\tilde\beta_t$", "beta": r"$\beta_t$", "learned": "learned"}
#: The held-out digits of the training curves (the tables use all of them).
CURVE_DIGITS = 120
#: Ranges of steps t (inclusive) of the table of the bound's parts; t = 200 is the clipped step.
PARTS = ((1, 1), (2, 10), (11, 50), (51, 150), (151, 199), (200, 200))


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Small tensors: a second thread mostly waits (and on a shared machine, much longer)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def digit_schedule() -> NoiseSchedule:
    """The cosine schedule of the digit experiments: T = 200, the last beta clipped at 0.999."""
    return NoiseSchedule.cosine(T_DIGITS)


def unclipped_schedule() -> NoiseSchedule:
    """The same schedule without its clipped last step: its first 199 steps, T = 199."""
    return NoiseSchedule(digit_schedule().betas[:-1])


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8×8 digits as 64 pixels each (17 grey levels in [-1, 1]), split 80 / 20 (as in Core Task 3)."""
    data = load_digits().flatten(1)
    train_part, held = split(len(data), 0.2, torch.Generator().manual_seed(0))
    return data[train_part], data[held]


def _level_index(x: torch.Tensor) -> torch.Tensor:
    """The index 0..LEVELS-1 of each value of ``x``, which lies on the levels of [-1, 1]."""
    return torch.round((x + 1.0) * (LEVELS - 1) / 2.0).long()


def histogram_bits() -> float:
    """Bits per dimension of the held-out digits under independent pixels, each a histogram of the training digits.

    Each of the 64 pixels gets its own distribution over the 17 levels: its counts in the training
    digits plus one (add-one smoothing, so no held-out level has probability 0).
    """
    train_part, held = _digits()
    counts = torch.ones(train_part.shape[1], LEVELS, dtype=torch.float64)
    counts.scatter_add_(
        1, _level_index(train_part).T, torch.ones(train_part.T.shape, dtype=torch.float64)
    )
    probabilities = counts / counts.sum(dim=1, keepdim=True)
    return -torch.log2(probabilities.gather(1, _level_index(held).T)).mean().item()


class LevelPosteriorMLP(torch.nn.Module):
    r"""$\varepsilon_\theta$ of data on grey levels, through a distribution of each pixel over the levels.

    An MLP on $[x_t, \mathrm{emb}(t)]$ gives, for each pixel $i$ and level $c_k$, a logit
    $f_{ik}$; adding the log-likelihood of the pixel's noisy value under that level gives the
    posterior weights of the levels, whose mean is $\hat x_0$, and the noise follows
    (DDPM eq. (4) solved for $\varepsilon$):

    $$w_{ik} \propto \exp\Big(f_{ik} - \frac{(x_{t,i} - \sqrt{\bar\alpha_t}\,c_k)^2}{2(1-\bar\alpha_t)}\Big),
    \qquad \hat x_{0,i} = \sum_k w_{ik} c_k,\qquad
    \varepsilon_\theta = \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}{\sqrt{1 - \bar\alpha_t}}.$$

    This is the exact posterior mean when the pixels are independent given what the MLP sees
    (with $f$ the log-prior of the levels). Where the noise is much smaller than the gap between
    two levels, the likelihood picks the level and $\varepsilon_\theta$ is exact, whatever the
    MLP; a plain MLP must learn that rounding itself, and the bound's first terms, whose weights
    are the largest, pay for every error. With ``learned_variance`` the MLP also returns $v$ of
    Improved DDPM eq. (15), stacked after $\varepsilon_\theta$ along axis 1.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        dim: int = 64,
        hidden: int = 256,
        depth: int = 3,
        embedding_dim: int = 32,
        learned_variance: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim, self.embedding_dim, self.learned_variance = dim, embedding_dim, learned_variance
        self.register_buffer("alpha_bars", schedule.alpha_bars.to(torch.float32))
        self.register_buffer("levels", torch.linspace(-1.0, 1.0, LEVELS))
        layers: list[torch.nn.Module] = []
        width = dim + embedding_dim
        with weights_from(generator):
            for _ in range(depth):
                layers += [torch.nn.Linear(width, hidden), torch.nn.SiLU()]
                width = hidden
            layers.append(torch.nn.Linear(width, dim * LEVELS + (dim if learned_variance else 0)))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([x_t, timestep_embedding(t, self.embedding_dim)], dim=1))
        logits = out[:, : self.dim * LEVELS].reshape(-1, self.dim, LEVELS)
        alpha_bar = self.alpha_bars[t][:, None]
        scale, spread = alpha_bar.sqrt(), 1.0 - alpha_bar
        # $f_{ik} - (x_{t,i} - \sqrt{\bar\alpha_t} c_k)^2 / 2(1 - \bar\alpha_t)$
        log_likelihood = -((x_t[:, :, None] - scale[:, :, None] * self.levels) ** 2) / (
            2.0 * spread[:, :, None]
        )
        weights = torch.softmax(logits + log_likelihood, dim=-1)
        x0_hat = (weights * self.levels).sum(dim=-1)
        eps = (x_t - scale * x0_hat) / spread.sqrt()
        if self.learned_variance:
            return torch.cat([eps, out[:, self.dim * LEVELS :]], dim=1)
        return eps


def held_out_terms(impl, model, variances: tuple[str, ...], n: int | None = None) -> dict:
    """The terms of the held-out digits' bound, {(chain, variance): (B, T + 1)}, in one pass over the steps.

    ``chain`` is ``"clipped"`` (the digit schedule, T = 200) or ``"unclipped"`` (its first 199
    steps, T = 199): the two share every term but the last KL term and the prior term, and each
    term is estimated with one draw of $x_t$ per digit and step, the same for every variance.
    """
    _, held = _digits()
    held = held[: min(n or len(held), scaled(len(held), quick=40))]
    clipped, unclipped = digit_schedule(), unclipped_schedule()
    generator = torch.Generator().manual_seed(5)
    columns: dict[str, list[torch.Tensor]] = {variance: [] for variance in variances}
    with torch.no_grad(), _one_thread():
        for step in range(clipped.T):
            t = torch.full((len(held),), step, dtype=torch.long)
            eps = torch.randn(held.shape, generator=generator)
            # $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon$ (DDPM eq. (4))
            x_t = gather(clipped.sqrt_alpha_bars, t, held) * held + (
                gather(clipped.sqrt_one_minus_alpha_bars, t, held) * eps
            )
            output = model(x_t, t)
            for variance in variances:
                columns[variance].append(
                    impl.vlb_term(output, held, x_t, t, clipped, variance=variance, levels=LEVELS)
                )
        priors = {
            "clipped": impl.prior_kl(held, clipped),
            "unclipped": impl.prior_kl(held, unclipped),
        }
    return {
        (chain, variance): torch.stack(
            [*columns[variance][: None if chain == "clipped" else -1], priors[chain]], dim=1
        )
        for chain in ("clipped", "unclipped")
        for variance in variances
    }


def trained(impl, name: str) -> dict[str, object]:
    """The digits model trained with objective ``name``: its EMA, the held-out bound over training, CPU seconds."""
    return _trained(
        impl.training_losses,
        impl.ImportanceSampler,
        impl.vlb_term,
        impl.prior_kl,
        impl.bits_per_dim,
        name,
    )


@functools.cache
def _trained(training_losses, sampler_class, vlb_term, prior_kl, bits_per_dim, name: str) -> dict:
    from types import SimpleNamespace

    impl = SimpleNamespace(vlb_term=vlb_term, prior_kl=prior_kl)
    _, objective, variances, importance = next(o for o in (*OBJECTIVES, PLAIN) if o[0] == name)
    variance = variances[0]
    train_part, _ = _digits()
    schedule = digit_schedule()
    gen = torch.Generator().manual_seed(2)
    if name == PLAIN[0]:
        model = NoiseMLP(train_part.shape[1], hidden=256, depth=3, generator=gen)
    else:
        model = LevelPosteriorMLP(
            schedule, train_part.shape[1], learned_variance=variance == "learned", generator=gen
        )
    sampler = sampler_class(T_DIGITS) if importance else None
    steps = scaled(1500, quick=6)
    every = scaled(500, quick=3)
    if steps % every:
        raise ValueError("the last training step must be logged")

    def loss_fn(network, x0, schedule, generator) -> torch.Tensor:
        losses, t, terms = training_losses(
            network,
            x0,
            schedule,
            generator,
            objective=objective,
            variance=variance,
            sampler=sampler,
            levels=LEVELS,
        )
        if sampler is not None:
            sampler.update(t, terms)
        return losses.mean()

    curve: list[tuple[int, float]] = []
    seconds = [0.0]
    last: dict = {}

    def on_log(state) -> None:
        start = time.process_time()
        final = state.step == steps
        terms = held_out_terms(impl, state.ema, variances, None if final else CURVE_DIGITS)
        if final:
            last.update(terms)
        bound = terms[("unclipped", variance)][:CURVE_DIGITS].sum(dim=1).mean()
        curve.append((state.step, bits_per_dim(bound).item()))
        seconds[0] += time.process_time() - start

    config = TrainConfig(
        steps=steps,
        batch_size=128,
        lr=1e-3,
        warmup=min(100, steps // 10),
        ema_decay=0.995,
        grad_clip=None,
        log_every=every,
        checkpoint_every=steps,
    )
    start = time.process_time()
    with _one_thread():
        state = train(
            model,
            train_part,
            schedule,
            config,
            generator=gen,
            on_log=on_log,
            progress=False,
            loss_fn=loss_fn,
        )
    if not last:  # the last logged network is not the final one
        on_log(state)
    return {
        "ema": state.ema,
        "variance": variance,
        "losses": state.losses,
        "curve": curve,
        "terms": dict(last),
        "steps": steps,
        "seconds": time.process_time() - start - seconds[0],
    }


def _gaussian_terms(vlb_terms, schedule: NoiseSchedule, variance: str) -> torch.Tensor:
    """The bound's terms of N(0, I) data in D_GAUSS dimensions with the exact oracle, continuous decoder."""
    eye = torch.eye(D_GAUSS, dtype=torch.float64)
    oracle = GaussianOracle(torch.zeros(D_GAUSS, dtype=torch.float64), eye, schedule)
    n = scaled(10_000, quick=500)
    x0 = torch.randn(n, D_GAUSS, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with _one_thread():
        return vlb_terms(
            oracle,
            x0,
            schedule,
            torch.Generator().manual_seed(1),
            variance=variance,
            decoder="continuous",
            progress=False,
        )


def gaussian_bound(impl) -> dict[str, dict[str, torch.Tensor]]:
    """The terms for N(0, I) data, per schedule and variance: {"linear-1000/beta": terms, ...}."""
    return _gaussian_bound(impl.vlb_terms)


@functools.cache
def _gaussian_bound(vlb_terms) -> dict[str, torch.Tensor]:
    schedules = {
        f"linear, T = {scaled(1000, quick=50)}": NoiseSchedule.linear(scaled(1000, quick=50)),
        f"cosine, T = {T_DIGITS}": NoiseSchedule.cosine(T_DIGITS),
    }
    return {
        (name, variance): _gaussian_terms(vlb_terms, schedule, variance)
        for name, schedule in schedules.items()
        for variance in ("beta", "beta_tilde")
    }


def sample(model, variance: str, n: int, generator: torch.Generator) -> torch.Tensor:
    r"""``n`` digits from ``model`` by ancestral sampling, $\hat x_0$ clipped to $[-1, 1]$, as ``(n, 1, 8, 8)``.

    A fixed variance samples with Core Task 2's ``ddpm_step``; a learned one with
    $\sigma_t^2 = \exp(v\log\beta_t + (1 - v)\log\tilde\beta_t)$ (Improved DDPM eq. (15)).
    """
    schedule = digit_schedule()
    shape = (n, 64)
    with torch.no_grad(), _one_thread():
        if variance != "learned":
            x = ddpm_sample(
                model,
                shape,
                schedule,
                variance=variance,
                clip_x0=True,
                generator=generator,
                progress=False,
            )
            return x.reshape(n, 1, 8, 8)
        x = torch.randn(shape, generator=generator)
        for step in reversed(range(schedule.T)):
            t = torch.full((n,), step, dtype=torch.long)
            eps, v = model(x, t).chunk(2, dim=1)
            x0_hat = predict_x0_from_eps(x, t, eps, schedule).clamp(-1.0, 1.0)
            mean, _, _ = q_posterior(x0_hat, x, t, schedule)
            if step == 0:
                x = mean
                break
            log_beta = torch.log(gather(schedule.betas, t, x))
            log_beta_tilde = gather(schedule.posterior_log_variance_clipped, t, x)
            log_variance = v * log_beta + (1.0 - v) * log_beta_tilde
            x = mean + torch.exp(0.5 * log_variance) * torch.randn(shape, generator=generator)
    return x.clamp(-1.0, 1.0).reshape(n, 1, 8, 8)


# ----------------------------------------------------------------------------- figures
def vlb_terms_figure(impl) -> Figure:
    """The bound's terms over t: N(0, I) data with the exact oracle, and held-out digits."""
    figure, axes = new_figure(1, 2, size=4.4)
    results = gaussian_bound(impl)
    name = f"cosine, T = {T_DIGITS}"
    steps = np.arange(1, T_DIGITS)
    ax = axes[0]
    for variance, color, label in (
        ("beta", "C3", r"$\sigma_t^2 = \beta_t$"),
        ("beta_tilde", "C4", r"$\sigma_t^2 = \tilde\beta_t$"),
    ):
        mean = results[(name, variance)].mean(dim=0).numpy()
        ax.plot(
            steps,
            mean[1:-1],
            color=color,
            label=f"$L_{{t-1}}$, {label}; $L_0$ = {mean[0]:.2f}, $L_T$ = {mean[-1]:.0e}",
        )
    ax.set(
        xlabel="step t (the term $L_{t-1}$)",
        ylabel="nats per dimension",
        title=r"$x_0 \sim \mathcal{N}(0, I)$, exact $\varepsilon^*$, " + name,
        yscale="log",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, variance, color, name in (
        ("simple", "beta_tilde", "C0", r"level MLP, $\sigma_t^2 = \tilde\beta_t$"),
        ("simple", "beta", "C9", r"level MLP, $\sigma_t^2 = \beta_t$"),
        ("plain", "beta_tilde", "C7", r"plain MLP, $\sigma_t^2 = \tilde\beta_t$"),
    ):
        terms = trained(impl, key)["terms"]
        mean = terms[("clipped", variance)].mean(dim=0).numpy()
        bits = [
            impl.bits_per_dim(terms[(chain, variance)].sum(dim=1).mean()).item()
            for chain in ("unclipped", "clipped")
        ]
        ax.plot(
            np.arange(1, T_DIGITS + 1),
            mean[:-1],
            color=color,
            label=f"{name}: {bits[0]:.2f} bits/dim ({bits[1]:.2f} with t = {T_DIGITS})",
        )
    ax.annotate(
        rf"$t = {T_DIGITS}$, $\beta_t$ clipped at 0.999",
        (T_DIGITS, mean[-2]),
        xytext=(0.35, 0.9),
        textcoords="axes fraction",
        fontsize=7,
        arrowprops={"arrowstyle": "->", "color": "gray"},
    )
    ax.set(
        xlabel="step t (the term $L_{t-1}$; $L_0$ at t = 1)",
        ylabel="nats per dimension",
        title=r"8×8 digits, held out, trained on $L_{\mathrm{simple}}$",
        yscale="log",
    )
    ax.legend(fontsize=7, loc="lower left")
    return figure


def objectives(impl) -> Figure:
    """The held-out bound during training with each objective, and samples of each model."""
    figure = Figure(figsize=(13.2, 3.6), layout="constrained")
    axes = figure.subplots(1, 4, width_ratios=(1.6, 1, 1, 1))
    for key, _, _, _ in OBJECTIVES:
        result = trained(impl, key)
        steps, bits = zip(*result["curve"], strict=True)
        axes[0].plot(steps, bits, "o-", color=COLORS[key], label=LABELS[key])
    axes[0].axhline(math.log2(LEVELS), color="gray", ls=":", label=f"uniform on {LEVELS} levels")
    axes[0].axhline(
        histogram_bits(), color="gray", ls="--", label="independent pixels (histograms)"
    )
    axes[0].set(
        xlabel="training step",
        ylabel="bits per dimension (bound)",
        title=f"bound of {CURVE_DIGITS} held-out digits, T = {T_DIGITS - 1} (no clipped step)",
    )
    axes[0].legend(fontsize=7)
    for ax, (key, _, _, _) in zip(axes[1:], OBJECTIVES, strict=True):
        result = trained(impl, key)
        digits = sample(result["ema"], result["variance"], 36, torch.Generator().manual_seed(7))
        ax.imshow(outlined_grid(digits, 6), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"samples, {key}", xticks=[], yticks=[])
    return figure


FIGURES = {"vlb-terms": vlb_terms_figure, "objectives": objectives}


# ----------------------------------------------------------------------------- tables
def _reference():
    from diffusion_path.tasks import get_task, reference_namespace

    return reference_namespace(get_task("core-4"))


def gaussian_table() -> str:
    """The bound of N(0, I) data with the exact oracle, by its three parts, against the entropy."""
    results = gaussian_bound(_reference())
    rows = [
        "| schedule | $\\sigma_t^2$ | $L_T$ | $\\sum_{t=2}^T L_{t-1}$ | $L_0$ | total $\\pm$ s.e. "
        "| total − $\\frac12\\log 2\\pi e$ |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (name, variance), terms in results.items():
        total = terms.sum(dim=1)
        se = total.std().item() / math.sqrt(len(total))
        gap = total.mean().item() - ENTROPY
        symbol = "$\\beta_t$" if variance == "beta" else "$\\tilde\\beta_t$"
        rows.append(
            f"| {name} | {symbol} | {terms[:, -1].mean().item():.2e} "
            f"| {terms[:, 1:-1].sum(dim=1).mean().item():.4f} | {terms[:, 0].mean().item():.4f} "
            f"| {total.mean().item():.4f} $\\pm$ {se:.4f} | {gap:+.4f} ({gap / se:+.1f} s.e.) |"
        )
    n = len(next(iter(results.values())))
    return "\n".join(rows) + (
        f"\n\nNats per dimension, the mean over {n:,} points of $\\mathcal N(0, I)$ in "
        f"{D_GAUSS} dimensions, one draw of $x_t$ per point and step; the continuous decoder "
        f"$\\mathcal N(\\mu_\\theta, \\sigma_1^2)$. The entropy $\\frac12\\log 2\\pi e$ is "
        f"{ENTROPY:.4f}."
    )


def _rows():
    """(key, objective, variance, importance, result) for each measured model and variance."""
    impl = _reference()
    for key, objective, variances, importance in (*OBJECTIVES, PLAIN):
        result = trained(impl, key)
        for variance in variances:
            yield key, objective, variance, importance, result


def bits_table() -> str:
    """Bits per dimension of the held-out digits under each trained model and the two baselines."""
    impl = _reference()
    rows = [
        "| model | $\\sigma_t^2$ | training | bits/dim, $T = 199$ | $L_0$ | $\\sum L_{t-1}$ "
        "| $L_T$ | bits/dim, $T = 200$ (clipped) | the clipped step's share |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, objective, variance, importance, result in _rows():
        sound = result["terms"][("unclipped", variance)]
        clipped = result["terms"][("clipped", variance)]
        mean = sound.mean(dim=0)
        bits = impl.bits_per_dim(sound.sum(dim=1).mean()).item()
        total = clipped.sum(dim=1).mean()
        share = (clipped[:, -2].mean() / total).item()
        steps = "importance-sampled $t$" if importance else "uniform $t$"
        network = "plain MLP" if key == PLAIN[0] else "level MLP"
        rows.append(
            f"| {network}, {objective}, {steps} | {SYMBOLS[variance]} "
            f"| {result['steps']:,} steps, {result['seconds']:.0f} s | **{bits:.2f}** "
            f"| {mean[0].item():.4f} | {mean[1:-1].sum().item():.3f} | {mean[-1].item():.1e} "
            f"| {impl.bits_per_dim(total).item():.2f} | {100 * share:.1f} % |"
        )
    rows.append(
        f"| independent pixels: a histogram of each pixel | — | counts + 1 | **{histogram_bits():.2f}** "
        "| | | | | |"
    )
    rows.append(
        f"| uniform on the {LEVELS} levels | — | — | **{math.log2(LEVELS):.2f}** | | | | | |"
    )
    return "\n".join(rows) + (
        f"\n\nThe bound in bits per dimension on the {len(sound)} held-out digits, and its parts in "
        "nats per dimension, for the chain without the clipped step ($T = 199$); the last two columns "
        f"for the chain of training, $T = {T_DIGITS}$, whose last step is clipped at "
        "$\\beta_T = 0.999$, and the share of that step's term $L_{T-1}$ in its bound. One draw of "
        "$x_t$ per digit and step, the same for both chains. The level MLP is "
        "`LevelPosteriorMLP`, the plain MLP Core Task 3's `NoiseMLP`, both with three hidden "
        "layers of 256, trained with batches of 128 and Adam; "
        "the time is the CPU time of one thread on the machine that built this page. The baselines "
        "are exact: the histograms of the 64 pixels over the training digits (add-one smoothing), "
        f"and $\\log_2 {LEVELS}$."
    )


def parts_table() -> str:
    """Where the bound's bits are: its terms summed over ranges of steps, for each model."""
    impl = _reference()
    header = " | ".join(
        "$L_0$ ($t = 1$)"
        if a == 1
        else (f"$t = {a}$ (clipped)" if a == T_DIGITS else f"$t = {a}$–${b}$")
        for a, b in PARTS
    )
    rows = [
        f"| model | $\\sigma_t^2$ | {header} | $L_T$ |",
        "|---|---|" + "---:|" * (len(PARTS) + 1),
    ]
    for key, objective, variance, _, result in _rows():
        mean = result["terms"][("clipped", variance)].mean(dim=0)
        network = "plain MLP" if key == PLAIN[0] else "level MLP"
        cells = [impl.bits_per_dim(mean[a - 1 : b].sum()).item() for a, b in PARTS]
        cells.append(impl.bits_per_dim(mean[-1]).item())
        rows.append(
            f"| {network}, {objective} | {SYMBOLS[variance]} | "
            + " | ".join(f"{c:.3f}" for c in cells)
            + " |"
        )
    return "\n".join(rows) + (
        "\n\nBits per dimension of the held-out digits: the terms of the steps in each range "
        f"(step $t$'s term is $L_{{t-1}}$), for the chain of training, $T = {T_DIGITS}$; without "
        f"the clipped step the bound is the sum of all but the column $t = {T_DIGITS}$, with a "
        "prior term of the same size."
    )


TABLES = {"gaussian-bound": gaussian_table, "bits-per-dim": bits_table, "bound-parts": parts_table}
