r"""Core Task 4: the variational bound of a diffusion model, its terms, and the losses made from it.

A diffusion model is a latent-variable model whose latents are the noisy states
$x_1, \dots, x_T$, and its evidence lower bound ([DDPM](https://arxiv.org/abs/2006.11239)
eqs. (3) and (5)) splits into one term per step:

$$-\log p_\theta(x_0) \le L_T + \sum_{t=2}^{T} L_{t-1} + L_0,\qquad
L_T = D_{\mathrm{KL}}\big(q(x_T \mid x_0)\,\|\,p(x_T)\big),$$

$$L_{t-1} = D_{\mathrm{KL}}\big(q(x_{t-1} \mid x_t, x_0)\,\|\,p_\theta(x_{t-1} \mid x_t)\big),\qquad
L_0 = -\log p_\theta(x_0 \mid x_1).$$

Every KL term is between two Gaussians (Pre-Task 4's ``normal_kl``,
in ``diffusion_path.foundations.vae``), and $L_0$ is the decoder's negative
log-likelihood: a Gaussian density for real data, or the probability of the data's bin for
images with a fixed number of grey levels (DDPM eq. (13)). Terms are reported per example in
nats per dimension, the mean over the coordinates of one example.

In code, the term of the 0-based index ``t`` is $L_t$ — the one whose state is $x_{t+1}$, the
state at index ``t``: index 0 holds the decoder term $L_0$, index ``t >= 1`` the KL term $L_t$,
and [`vlb_terms`][diffusion_path.diffusion.losses.vlb_terms] returns them as columns
$0, \dots, T-1$ with $L_T$ in column $T$, so that column $t$ is $L_t$.

Training needs only one term per example: [`training_losses`][diffusion_path.diffusion.losses.training_losses]
draws a step for each example and returns DDPM's simple loss (eq. (14)), the bound itself, or
the hybrid of [Improved DDPM](https://arxiv.org/abs/2102.09672) (eq. (16)), with the step drawn
uniformly or by the [`ImportanceSampler`][diffusion_path.diffusion.losses.ImportanceSampler] of
Improved DDPM eq. (18).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.reverse import predict_x0_from_eps, q_posterior
from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.foundations.vae import gaussian_log_likelihood, normal_kl
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = [
    "ImportanceSampler",
    "bits_per_dim",
    "discretized_gaussian_log_likelihood",
    "prior_kl",
    "training_losses",
    "vlb_term",
    "vlb_terms",
]

#: The reverse step's variance $\sigma_t^2$: DDPM's two fixed choices, or learned (Improved DDPM eq. (15)).
VARIANCES = ("beta_tilde", "beta", "learned")
#: The decoder $p_\theta(x_0 \mid x_1)$: the probability of the data's bin (DDPM eq. (13)), or a density.
DECODERS = ("discretized", "continuous")
#: What to train on: DDPM eq. (14), the bound, or Improved DDPM's hybrid, eq. (16).
OBJECTIVES = ("simple", "vlb", "hybrid")


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int = 256
) -> torch.Tensor:
    r"""Log-probability that $\mathcal N(\mu, \sigma^2)$ lands in the bin of ``x``, elementwise (DDPM eq. (13)).

    For data on ``levels`` evenly spaced levels in $[-1, 1]$, each level owns the bin of half-width
    $\delta = 1/(\text{levels} - 1)$ around it, the first bin reaching down to $-\infty$ and the
    last up to $+\infty$:

    $$\log P(x) = \log\Big(\Phi\big(\tfrac{x + \delta - \mu}{\sigma}\big)
    - \Phi\big(\tfrac{x - \delta - \mu}{\sigma}\big)\Big),\qquad
    \Phi(\cdot) \to 1 \text{ above the last level},\ \Phi(\cdot) \to 0 \text{ below the first}.$$

    The probabilities of all the levels sum to one. The logarithm is taken of each cumulative
    probability ($\log\Phi$, exact in the tails) and the difference is formed in logs, on the side
    of the mean where both probabilities are small, so the result stays exact where the bin lies
    many standard deviations from the mean (no clamping).

    Args:
        x: The data, on the levels $-1 + 2k/(\text{levels} - 1)$, any shape.
        mean: The mean $\mu$, broadcastable with ``x``.
        log_scale: $\log\sigma$ — the log of the standard deviation, half the log-variance —
            broadcastable with ``x``.
        levels: Number of levels of the data: 256 for 8-bit images, 17 for the 8×8 digits.

    Returns:
        $\log P(x)$ for each entry, in nats, of the broadcast shape.

    Raises:
        ValueError: if ``x``, ``mean`` or ``log_scale`` is not a finite float tensor of ``x``'s
            dtype or their shapes do not broadcast, ``levels`` is not an integer of at least 2,
            or ``x`` does not lie on the levels.

    Examples:
        >>> zero = torch.zeros(1)
        >>> x = torch.tensor(
        ...     [-1.0, 0.0, 1.0]
        ... )  # three levels: bins (-inf, -0.5), (-0.5, 0.5), (0.5, inf)
        >>> discretized_gaussian_log_likelihood(x, zero, zero, levels=3).exp()  # Phi(-0.5), ...
        tensor([0.3085, 0.3829, 0.3085])
        >>> far = discretized_gaussian_log_likelihood(
        ...     torch.tensor([-1.0], dtype=torch.float64),
        ...     torch.tensor([1.0], dtype=torch.float64),
        ...     torch.tensor([math.log(0.01)], dtype=torch.float64),
        ... )
        >>> round(far.item(), 2)  # the first bin, 200 standard deviations away: log Phi(-199.61)
        -19927.86
    """
    x, mean, log_scale = validation.broadcastable(x=x, mean=mean, log_scale=log_scale)
    levels = validation.integer(levels, "levels", minimum=2)
    x = validation.on_levels(x, levels, "x")

    # Exercise: eq. (C4.5) — the bin's two edges in standard units (half a bin, delta, each side of
    # x, minus the mean, over sigma, the exponential of log_scale); the log of the normal CDF at
    # each edge, from below and from above. For the first level the log-probability is that of
    # everything below the upper edge, for the last that of everything above the lower edge.
    # In between, subtract the two CDF values in logs on the side of the mean where both are
    # small (the symmetry of the normal law gives the upper side), as the log of the larger plus
    # the log of one minus the exponential of their difference.

    delta = 1.0 / (levels - 1)
    inv_sigma = torch.exp(-log_scale)
    # $(x \pm \delta - \mu)/\sigma$, the bin's edges in standard units
    upper = (x - mean + delta) * inv_sigma
    lower = (x - mean - delta) * inv_sigma
    # $\log\Phi(u)$ and $\log(1 - \Phi(l)) = \log\Phi(-l)$: the open bins at the two ends
    log_cdf_upper = torch.special.log_ndtr(upper)
    log_sf_lower = torch.special.log_ndtr(-lower)
    # $\Phi(u) - \Phi(l) = \Phi(-l) - \Phi(-u)$: subtract on the side where both are small
    right = lower > 0
    log_big = torch.where(right, log_sf_lower, log_cdf_upper)
    log_small = torch.where(right, torch.special.log_ndtr(-upper), torch.special.log_ndtr(lower))
    gap = log_small - log_big
    # $\log(a - b) = \log a + \log(1 - e^{\log b - \log a})$, with expm1 or log1p where each is exact
    log_one_minus = torch.where(
        gap > -math.log(2.0), torch.log(-torch.expm1(gap)), torch.log1p(-torch.exp(gap))
    )
    log_middle = log_big + log_one_minus
    first, last = x < -1.0 + delta, x > 1.0 - delta
    return torch.where(first, log_cdf_upper, torch.where(last, log_sf_lower, log_middle))


def prior_kl(x0: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    r"""$L_T$, the KL divergence of $q(x_T \mid x_0)$ from the prior $\mathcal N(0, I)$, per example, in nats per dimension (DDPM eq. (5)).

    $$L_T = \frac1d\sum_{i=1}^{d} D_{\mathrm{KL}}\big(\mathcal N(\sqrt{\bar\alpha_T}\,x_{0,i},\ 1 - \bar\alpha_T)
    \,\big\|\,\mathcal N(0, 1)\big)
    = \frac1d\sum_{i=1}^{d}\tfrac12\big[\bar\alpha_T x_{0,i}^2 - \bar\alpha_T - \log(1 - \bar\alpha_T)\big]$$

    It has no parameter to learn; it says how much of the data the last state $x_T$ still
    remembers, and it is the first term of the bound.

    Args:
        x0: The data, shape ``(B, ...)``.
        schedule: The noise schedule; $\bar\alpha_T$ is ``schedule.alpha_bars[T-1]``.

    Returns:
        $L_T$ of each example, shape ``(B,)``, in ``x0``'s dtype.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor with a batch axis, or ``schedule`` is
            not a noise schedule.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36, 0.75]))  # alpha_bar_T = 0.16
        >>> prior_kl(torch.zeros(1, 3), schedule)  # (-0.16 - log 0.84) / 2
        tensor([0.0072])
    """
    x0 = validation.float_tensor(x0, "x0", min_dim=2)
    schedule = validation.noise_schedule(schedule)

    # Exercise: eq. (C4.6) — the mean and the log-variance of the last noisy state given the data, read
    # from the schedule at the last index with gather; the KL divergence of each coordinate from the
    # standard normal with Pre-Task 4's normal_kl; the mean over an example's coordinates.

    last = torch.full((x0.shape[0],), schedule.T - 1, dtype=torch.long, device=x0.device)
    # $q(x_T \mid x_0) = \mathcal N(\sqrt{\bar\alpha_T} x_0, (1 - \bar\alpha_T) I)$
    mean = gather(schedule.sqrt_alpha_bars, last, x0) * x0
    log_variance = 2.0 * torch.log(gather(schedule.sqrt_one_minus_alpha_bars, last, x0))
    zero = torch.zeros_like(x0)
    # $D_{\mathrm{KL}}(q(x_T \mid x_0) \,\|\, \mathcal N(0, I))$, averaged over the coordinates
    with validation.trusted():
        kl = normal_kl(mean, log_variance.expand_as(x0), zero, zero)
    return kl.flatten(1).mean(dim=1)


def vlb_term(
    model_output: torch.Tensor,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    *,
    variance: str = "beta_tilde",
    decoder: str = "discretized",
    levels: int = 256,
) -> torch.Tensor:
    r"""The term $L_t$ of the bound for each example, in nats per dimension (DDPM eqs. (5), (8), (13)).

    For the 0-based index ``t`` the state is $x_{t+1}$ (``x_t``) and the model's step is
    $p_\theta(x_t \mid x_{t+1}) = \mathcal N(\mu_\theta, \sigma_{t+1}^2)$, with
    $\mu_\theta = \tilde\mu_{t+1}(x_{t+1}, \hat x_0)$ and $\hat x_0$ from the noise prediction
    (DDPM eq. (11)). Averaged over the coordinates,

    $$L_t = D_{\mathrm{KL}}\big(q(x_t \mid x_{t+1}, x_0)\,\|\,p_\theta(x_t \mid x_{t+1})\big)
    \ (t \ge 1),\qquad L_0 = -\log p_\theta(x_0 \mid x_1).$$

    The variance $\sigma_{t+1}^2$ is $\tilde\beta_{t+1}$ (``"beta_tilde"``), $\beta_{t+1}$
    (``"beta"``) or $\exp(v\log\beta_{t+1} + (1 - v)\log\tilde\beta_{t+1})$ with the network's
    $v$ (``"learned"``, Improved DDPM eq. (15)); where $\tilde\beta_1 = 0$ its log is the clipped
    one of the schedule (``posterior_log_variance_clipped``), so the decoder of ``"beta"`` has
    variance $\beta_1$. The decoder is Gaussian: the probability of the data's bin
    (``"discretized"``, DDPM eq. (13), for data on ``levels`` levels) or its density
    (``"continuous"``).

    Args:
        model_output: The network's output at ``x_t``: the noise prediction
            $\varepsilon_\theta(x_{t+1}, t+1)$, of the shape of ``x_t``; with a learned variance,
            the noise and $v$ stacked along axis 1 (twice the channels).
        x0: The data, shape ``(B, ...)``.
        x_t: The noisy batch at index ``t``, $x_{t+1}$, of the shape and dtype of ``x0``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        schedule: The noise schedule.
        variance: ``"beta_tilde"``, ``"beta"`` or ``"learned"``.
        decoder: ``"discretized"`` or ``"continuous"``.
        levels: Number of levels of the data for the discretized decoder.

    Returns:
        $L_t$ of each example, shape ``(B,)``, in nats per dimension.

    Raises:
        ValueError: if ``variance`` or ``decoder`` is not one of its names, ``x0`` or ``x_t`` is
            not a finite float tensor or they do not match, ``t`` is out of range,
            ``model_output`` does not have the shape that ``variance`` asks for, ``levels`` is not
            an integer of at least 2, or the discretized decoder gets ``x0`` off the levels.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.19, 0.36]))  # alpha_bars 0.81, 0.5184
        >>> x0, eps = torch.full((1, 2), 0.6), torch.tensor([[1.0, -1.0]])
        >>> x_t = q_sample(x0, 1, schedule, noise=eps)
        >>> vlb_term(eps, x0, x_t, 1, schedule)  # the right noise, sigma^2 = beta_tilde: KL 0
        tensor([0.])
        >>> r = 0.36 / 0.1420  # beta over beta_tilde: (log r + 1/r - 1) / 2
        >>> vlb_term(eps, x0, x_t, 1, schedule, variance="beta")
        tensor([0.1623])
    """
    variance = validation.one_of(variance, VARIANCES, "variance")
    decoder = validation.one_of(decoder, DECODERS, "decoder")
    x0, x_t, t = validation.batch_at_step(t, schedule, x0=x0, x_t=x_t)
    model_output = validation.prediction(model_output, x_t, learned=variance == "learned")
    levels = validation.integer(levels, "levels", minimum=2)
    if decoder == "discretized":
        validation.on_levels(x0, levels, "x0")

    # Exercise: eqs. (C4.3)-(C4.5) and (C4.9) — split off v when the variance is learned; the
    # model's mean is the posterior mean (Core Task 2) at the clean data that the noise
    # prediction implies; its log-variance is log beta, the clipped log beta-tilde, or their
    # mix with weights v and 1 - v. For t >= 1 the term is the KL divergence of the true
    # posterior from the model's step; at index 0 it is minus the decoder's log-likelihood of
    # x0 (discretized: with the log of the standard deviation). Average each example's
    # coordinates, and pick per example by its own index.

    if variance == "learned":
        eps, v = model_output.chunk(2, dim=1)
    else:
        eps, v = model_output, None
    with validation.trusted():  # checked above
        # $\mu_\theta = \tilde\mu_{t+1}(x_{t+1}, \hat x_0)$, $\hat x_0$ from $\varepsilon_\theta$ (DDPM eq. 11)
        x0_hat = predict_x0_from_eps(x_t, t, eps, schedule)
        mean, _, _ = q_posterior(x0_hat, x_t, t, schedule)
        # $q(x_t \mid x_{t+1}, x_0) = \mathcal N(\tilde\mu_{t+1}, \tilde\beta_{t+1})$
        true_mean, _, true_log_variance = q_posterior(x0, x_t, t, schedule)
        log_beta = torch.log(gather(schedule.betas, t, x_t))
        log_beta_tilde = gather(schedule.posterior_log_variance_clipped, t, x_t)
        # $\log\sigma^2 = \log\beta$, $\log\tilde\beta$, or $v\log\beta + (1 - v)\log\tilde\beta$
        if variance == "beta":
            log_variance = log_beta.expand_as(x_t)
        elif variance == "beta_tilde":
            log_variance = log_beta_tilde.expand_as(x_t)
        else:
            log_variance = v * log_beta + (1.0 - v) * log_beta_tilde
        # $L_t = D_{\mathrm{KL}}(q(x_t \mid x_{t+1}, x_0) \,\|\, p_\theta(x_t \mid x_{t+1}))$, per coordinate
        kl = normal_kl(true_mean, true_log_variance, mean, log_variance)
        # $L_0 = -\log p_\theta(x_0 \mid x_1)$, per coordinate
        if decoder == "discretized":
            nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_variance, levels)
        else:
            nll = -gaussian_log_likelihood(x0, mean, log_variance)
    # the mean over each example's coordinates; the decoder's term where the index is 0
    return torch.where(t == 0, nll.flatten(1).mean(dim=1), kl.flatten(1).mean(dim=1))


def vlb_terms(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    *,
    variance: str = "beta_tilde",
    decoder: str = "discretized",
    levels: int = 256,
    progress: bool | None = None,
) -> torch.Tensor:
    r"""Every term of the bound for each example: $L_0, L_1, \dots, L_{T-1}$ and $L_T$, in nats per dimension (DDPM eq. (5)).

    Column ``t`` of the result is $L_t$: the decoder term in column 0, the KL terms of
    [`vlb_term`][diffusion_path.diffusion.losses.vlb_term] in columns $1, \dots, T-1$, the prior
    term of [`prior_kl`][diffusion_path.diffusion.losses.prior_kl] in column $T$. Each $L_t$
    with $t < T$ is estimated with one draw $x_{t+1} \sim q(x_{t+1} \mid x_0)$, with fresh noise
    for each $t$, so that the columns of a row are independent estimates, and the sum of a row is
    an unbiased estimate of the example's bound

    $$L = \sum_{t=0}^{T} L_t \ \ge\ -\tfrac1d\log p_\theta(x_0),$$

    and its mean over examples estimates the negative log-likelihood of the data in nats per
    dimension: [`bits_per_dim`][diffusion_path.diffusion.losses.bits_per_dim] turns it into bits.

    Args:
        model: The noise predictor, called as ``model(x_t, t)`` with ``t`` a LongTensor of shape
            ``(B,)`` holding the index; returns $\varepsilon_\theta$ (and $v$, stacked along axis
            1, with a learned variance).
        x0: The data, shape ``(B, ...)``.
        schedule: The noise schedule.
        generator: The source of the noise.
        variance: ``"beta_tilde"``, ``"beta"`` or ``"learned"``, as in ``vlb_term``.
        decoder: ``"discretized"`` or ``"continuous"``.
        levels: Number of levels of the data for the discretized decoder.
        progress: Show a progress bar (``None``: only in a terminal, and only when ``T >= 500``).

    Returns:
        A tensor of shape ``(B, T + 1)``, in ``x0``'s dtype; column ``t`` is $L_t$.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor with a batch axis (on the levels, for
            the discretized decoder), ``schedule`` is not a noise schedule, ``generator`` is not a
            ``torch.Generator``, ``variance`` or ``decoder`` is not one of its names, ``levels``
            is not an integer of at least 2, or ``model`` is not callable or returns the wrong
            shape, NaN or inf.

    Examples:
        >>> from diffusion_path.tools.oracle import GaussianOracle
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> oracle = GaussianOracle([0.0], [[1.0]], schedule)  # data N(0, 1), exact noise
        >>> x0 = torch.randn(5000, 1, generator=torch.Generator().manual_seed(0))
        >>> terms = vlb_terms(
        ...     oracle,
        ...     x0,
        ...     schedule,
        ...     torch.Generator().manual_seed(1),
        ...     variance="beta",
        ...     decoder="continuous",
        ... )
        >>> terms.shape, round(terms.sum(dim=1).mean().item(), 1)  # the entropy, log(2 pi e) / 2
        (torch.Size([5000, 51]), 1.4)
    """
    x0 = validation.float_tensor(x0, "x0", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)
    variance = validation.one_of(variance, VARIANCES, "variance")
    decoder = validation.one_of(decoder, DECODERS, "decoder")
    levels = validation.integer(levels, "levels", minimum=2)
    if decoder == "discretized":
        validation.on_levels(x0, levels, "x0")
    shape = tuple(x0.shape)
    if variance == "learned":
        shape = (shape[0], 2 * shape[1], *shape[2:])
    model = validation.checked_predictor(model, shape)

    # Exercise: eq. (C4.2) — for every index from 0 to T - 1: put every example at that index,
    # noise the data with fresh noise from `generator` (q_sample, Core Task 1), ask the model,
    # and take vlb_term; then the prior term. One column per term, L_0 first and L_T last;
    # no gradients are needed.

    terms = []
    steps = range(schedule.T)
    with torch.no_grad(), validation.trusted():  # the loop's inputs are made here
        for step in progress_bar(steps, show=progress, desc="bound", min_items=500):
            t = torch.full((shape[0],), step, dtype=torch.long, device=x0.device)
            # $x_{t+1} \sim q(x_{t+1} \mid x_0)$, fresh noise for every term
            eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
            x_t = q_sample(x0, t, schedule, noise=eps)
            # $L_t$, the decoder's term at index 0
            terms.append(
                vlb_term(
                    model(x_t, t),
                    x0,
                    x_t,
                    t,
                    schedule,
                    variance=variance,
                    decoder=decoder,
                    levels=levels,
                )
            )
        # $L_T$, exact
        terms.append(prior_kl(x0, schedule))
    return torch.stack(terms, dim=1)


def bits_per_dim(nats: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    r"""A negative log-likelihood in nats per dimension, in bits per dimension.

    $$\text{bits} = \frac{\text{nats}}{\ln 2},\qquad
    \text{with } \texttt{levels}:\quad \text{bits} = \frac{\text{nats}}{\ln 2}
    + \log_2\frac{\text{levels} - 1}{2}$$

    With a discretized decoder the bound is already a bound on a probability — of the data's
    levels — and converts with no offset. A continuous decoder bounds a density of the data scaled
    to $[-1, 1]$, which is not a probability: pass ``levels`` to add the log of the bin width
    $2/(\text{levels} - 1)$ of one level, which puts the density on the scale of the integer
    levels, where bits per dimension are usually compared. For 8-bit data the offset is
    $\log_2 127.5 \approx 6.99$ bits.

    Args:
        nats: Nats per dimension, a tensor of any shape.
        levels: ``None`` for a probability (a discretized decoder); the data's number of levels
            for a density of data scaled to $[-1, 1]$.

    Returns:
        Bits per dimension, of the shape and dtype of ``nats``.

    Raises:
        ValueError: if ``nats`` is not a finite float tensor, or ``levels`` is neither ``None``
            nor an integer of at least 2.

    Examples:
        >>> bits_per_dim(torch.tensor([math.log(2.0)]))
        tensor([1.])
        >>> bits_per_dim(torch.tensor([0.0]), levels=256)  # log2(127.5)
        tensor([6.9944])
    """
    nats = validation.float_tensor(nats, "nats", min_dim=0)
    if levels is not None:
        levels = validation.integer(levels, "levels", minimum=2)

    # Exercise: eq. (C4.7) — divide by the log of two; for a density, add the base-2 log of the
    # number of levels' bins per unit of the data, half of one less than the number of levels.

    # $\text{nats} / \ln 2$
    bits = nats / math.log(2.0)
    if levels is None:
        return bits
    # $+ \log_2((\text{levels} - 1)/2)$, the bin width of one level
    return bits + math.log2((levels - 1) / 2.0)


class ImportanceSampler:
    r"""The step $t$ of the bound's Monte Carlo estimate, drawn where its term varies most (Improved DDPM eq. (18)).

    The bound's sum over the steps is estimated from one step per example. Drawing $t$ with
    probability $p_t$ and weighting its term by $1/p_t$ keeps the estimate unbiased for any
    $p_t > 0$; its variance is least for $p_t \propto \sqrt{\mathbb E[L_t^2]}$:

    $$L_{\text{vlb}} = \mathbb E_{t \sim p_t}\Big[\frac{L_t}{p_t}\Big],\qquad
    p_t \propto \sqrt{\mathbb E[L_t^2]},\quad \sum_t p_t = 1.$$

    $\mathbb E[L_t^2]$ is estimated from the last ``history`` values of $L_t$ seen for each
    index. Until every index has that many, the steps are drawn uniformly; after that a fraction
    ``uniform`` of the uniform law is mixed in, so that no step's probability is ever 0. If every
    stored value is 0 the root mean squares cannot be normalised (their sum is 0): no step stands
    out, and the law is uniform.

    Args:
        T: Number of steps (indices ``0, ..., T-1``).
        history: Values of $L_t$ kept for each index.
        uniform: Weight of the uniform law in the mixture, in $[0, 1]$.

    Raises:
        ValueError: if ``T`` or ``history`` is not a positive int, or ``uniform`` is not a number
            in $[0, 1]$.

    Examples:
        >>> sampler = ImportanceSampler(3, history=2, uniform=0.0)
        >>> sampler.probabilities()  # nothing seen yet: uniform
        tensor([0.3333, 0.3333, 0.3333], dtype=torch.float64)
        >>> sampler.update(torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([1.0, 1, 3, 3, 4, 4]))
        >>> sampler.probabilities()  # root mean squares 1, 3, 4
        tensor([0.1250, 0.3750, 0.5000], dtype=torch.float64)
    """

    def __init__(self, T: int, history: int = 10, uniform: float = 0.001) -> None:
        self.T = validation.positive_int(T, "T")
        self.history = validation.positive_int(history, "history")
        self.uniform = validation.unit_interval(uniform, "uniform")
        #: The last values of $L_t$ seen for each index, oldest first, shape ``(T, history)``.
        self.losses = torch.zeros(self.T, self.history, dtype=torch.float64)
        #: How many values each index holds, up to ``history``.
        self.counts = torch.zeros(self.T, dtype=torch.long)

    def probabilities(self) -> torch.Tensor:
        r"""$p_t$ for every index, a float64 tensor of shape ``(T,)`` that sums to one.

        Uniform, $1/T$ each, until every index holds ``history`` values, and also when every
        stored value is 0 (the root mean squares then sum to 0 and cannot be normalised).
        """

        # Exercise: eq. (C4.11) — the uniform law until every index holds `history` values; then
        # each index's weight is the root mean square of its stored values, normalised to sum to
        # one, and mixed with the uniform law in the proportion `uniform`. If those weights are
        # all 0, the uniform law.

        flat = torch.full((self.T,), 1.0 / self.T, dtype=torch.float64)
        if bool((self.counts < self.history).any()):
            return flat
        # $\sqrt{\mathbb E[L_t^2]}$, from the stored values
        rms = self.losses.pow(2).mean(dim=1).sqrt()
        if not bool(rms.sum() > 0):
            # every stored value is 0: no step stands out
            return flat
        # $p_t \propto \sqrt{\mathbb E[L_t^2]}$, with a fraction of the uniform law mixed in
        return (1.0 - self.uniform) * rms / rms.sum() + self.uniform / self.T

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Draw ``batch`` indices $t \sim p_t$.

        Args:
            batch: Number of indices.
            generator: The source of randomness.

        Returns:
            ``(t, p)``: the indices, a LongTensor of shape ``(batch,)``, and their probabilities
            $p_t$, float64 of shape ``(batch,)``.

        Raises:
            ValueError: if ``batch`` is not a positive int or ``generator`` is not a
                ``torch.Generator``.
        """
        batch = validation.positive_int(batch, "batch")
        generator = validation.torch_generator(generator)

        # Exercise: eq. (C4.11) — draw the indices with replacement from the probabilities, with
        # `generator`, and return them with their probabilities.

        p = self.probabilities()
        t = torch.multinomial(p, batch, replacement=True, generator=generator)
        return t, p[t]

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        r"""Record the terms $L_t$ of a batch: one value for each entry of ``t``.

        Args:
            t: The indices, a 1-D LongTensor (or a list of ints) in ``[0, T-1]``.
            losses: $L_t$ for each entry of ``t``, a float tensor of the same length.

        Raises:
            ValueError: if ``t`` holds an index out of range, or ``losses`` is not a finite float
                tensor with one value per entry of ``t``.
        """
        t = validation.step_indices(t, self.T, "t")
        losses = validation.float_tensor(losses, "losses")
        if tuple(losses.shape) != tuple(t.shape):
            raise ValueError(
                f"losses must have one value per entry of t, shape {tuple(t.shape)}; got "
                f"{tuple(losses.shape)}"
            )

        # Exercise: for each pair of an index and its value, put the value after the ones the
        # index holds; once it holds `history` values, drop the oldest to make room.

        # NumPy views of the two tensors (the same memory): one value at a time, fast
        stored, counts = self.losses.numpy(), self.counts.numpy()
        values = losses.detach().to(torch.float64).cpu().tolist()
        for step, value in zip(t.tolist(), values, strict=True):
            if counts[step] < self.history:
                stored[step, counts[step]] = value
                counts[step] += 1
            else:
                # the oldest value out, the newest in at the end
                stored[step, :-1] = stored[step, 1:].copy()
                stored[step, -1] = value


def training_losses(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    *,
    objective: str = "simple",
    variance: str = "beta_tilde",
    sampler: ImportanceSampler | None = None,
    decoder: str = "discretized",
    levels: int = 256,
    vlb_weight: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The loss of each example for one training step: DDPM's simple loss, the bound, or the hybrid.

    Each example gets an index $t$ — uniform, $p_t = 1/T$, or from ``sampler`` — and noise
    $\varepsilon$; the network sees $x_{t+1} = \sqrt{\bar\alpha_{t+1}}x_0 + \sqrt{1 - \bar\alpha_{t+1}}\varepsilon$.
    With $\mathrm{mse} = \frac1d\lVert\varepsilon - \varepsilon_\theta\rVert^2$ and $L_t$ of
    [`vlb_term`][diffusion_path.diffusion.losses.vlb_term], each weighted so that its mean over
    the draws is the objective, whatever $p_t$:

    $$\text{simple: } \frac{\mathrm{mse}}{T p_t}\ \ \text{(DDPM eq. (14))},\qquad
    \text{vlb: } \frac{L_t}{p_t} + L_T,\qquad
    \text{hybrid: } \frac{\mathrm{mse}}{T p_t} + \lambda\Big(\frac{L_t[\mathrm{sg}(\varepsilon_\theta)]}{p_t} + L_T\Big)$$

    (Improved DDPM eq. (16), $\lambda$ = ``vlb_weight``). In the hybrid the bound's term sees the
    noise prediction through a stop-gradient, so it trains only the variance, and the mean is
    left to the simple loss. The simple loss trains no variance: a learned variance needs the
    bound or the hybrid; and the hybrid needs a learned variance (with a fixed one it is the
    simple loss).

    Args:
        model: The network, called as ``model(x_t, t)`` with the 0-based indices ``t``; returns
            $\varepsilon_\theta$ (and $v$ stacked along axis 1 with a learned variance).
        x0: A batch of data, shape ``(B, ...)``.
        schedule: The noise schedule.
        generator: The source of the steps (when ``sampler`` is ``None``) and of the noise.
        objective: ``"simple"``, ``"vlb"`` or ``"hybrid"``.
        variance: ``"beta_tilde"``, ``"beta"`` or ``"learned"``.
        sampler: Draws the steps (an [`ImportanceSampler`][diffusion_path.diffusion.losses.ImportanceSampler]);
            ``None`` for the uniform law.
        decoder: ``"discretized"`` or ``"continuous"``.
        levels: Number of levels of the data for the discretized decoder.
        vlb_weight: $\lambda$ of the hybrid.

    Returns:
        ``(losses, t, terms)``: the loss of each example, shape ``(B,)``, with gradients (take
        its mean for a step); the indices drawn, shape ``(B,)``; and the terms $L_t$, shape
        ``(B,)``, detached — what ``sampler.update(t, terms)`` records. The terms are those of
        [`vlb_term`][diffusion_path.diffusion.losses.vlb_term] at the drawn indices for every
        objective: for ``"simple"`` too, with the fixed ``variance`` given (not the mse).

    Raises:
        ValueError: if ``objective``, ``variance`` or ``decoder`` is not one of its names, the
            objective and the variance do not go together, ``x0`` is not a finite float tensor
            with a batch axis (on the levels, for the discretized decoder), ``schedule`` is not a
            noise schedule, ``generator`` is not a ``torch.Generator``, ``sampler`` is not a step
            sampler for the schedule's ``T``, ``levels`` is not an integer of at least 2,
            ``vlb_weight`` is not a positive number, or ``model`` returns the wrong shape, NaN or
            inf.

    Examples:
        >>> schedule = NoiseSchedule.linear(10)
        >>> zero = lambda x, t: torch.zeros_like(x)  # predicts no noise: the mse is 1 on average
        >>> losses, t, terms = training_losses(
        ...     zero,
        ...     torch.zeros(4096, 2),
        ...     schedule,
        ...     torch.Generator().manual_seed(0),
        ...     decoder="continuous",
        ... )
        >>> round(losses.mean().item(), 1), losses.shape, t.shape, terms.shape
        (1.0, torch.Size([4096]), torch.Size([4096]), torch.Size([4096]))
    """
    objective = validation.one_of(objective, OBJECTIVES, "objective")
    variance = validation.one_of(variance, VARIANCES, "variance")
    decoder = validation.one_of(decoder, DECODERS, "decoder")
    if objective == "simple" and variance == "learned":
        raise ValueError(
            "variance 'learned' needs objective 'vlb' or 'hybrid': the simple loss does not "
            "depend on the variance"
        )
    if objective == "hybrid" and variance != "learned":
        raise ValueError(
            "objective 'hybrid' needs variance 'learned': with a fixed variance it is the simple "
            "loss"
        )
    x0 = validation.float_tensor(x0, "x0", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)
    sampler = validation.step_sampler(sampler, schedule.T)
    levels = validation.integer(levels, "levels", minimum=2)
    vlb_weight = validation.positive_number(vlb_weight, "vlb_weight")
    if decoder == "discretized":
        validation.on_levels(x0, levels, "x0")
    shape = tuple(x0.shape)
    if variance == "learned":
        shape = (shape[0], 2 * shape[1], *shape[2:])
    model = validation.checked_predictor(model, shape)

    # Exercise: eqs. (C4.8)-(C4.11) — an index per example, uniform or from the sampler, with its
    # probability; standard normal noise from `generator`; the noisy batch (q_sample) and the
    # model's output. The mse of the noise prediction per example; the term L_t of vlb_term, in
    # the hybrid with the noise prediction detached. Weight each part by its probability as the
    # objective says (the bound's part gets the prior term too), and return the losses, the
    # indices and the detached terms.

    batch, T = shape[0], schedule.T
    if sampler is None:
        # $t \sim \mathcal U\{1, \dots, T\}$, as 0-based indices, $p_t = 1/T$
        t = torch.randint(0, T, (batch,), generator=generator, device=generator.device)
        p = torch.full((batch,), 1.0 / T, dtype=torch.float64)
    else:
        # $t \sim p_t$
        t, p = sampler.sample(batch, generator)
    # $\varepsilon \sim \mathcal N(0, I)$
    eps = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype)
    t, eps, p = t.to(x0.device), eps.to(x0.device), p.to(device=x0.device, dtype=x0.dtype)
    with validation.trusted():  # checked above
        # $x_{t+1} = \sqrt{\bar\alpha_{t+1}} x_0 + \sqrt{1 - \bar\alpha_{t+1}}\varepsilon$
        x_t = q_sample(x0, t, schedule, noise=eps)
        output = model(x_t, t)
        eps_theta = output.chunk(2, dim=1)[0] if variance == "learned" else output
        # $\frac1d\lVert\varepsilon - \varepsilon_\theta\rVert^2$, per example
        mse = (eps - eps_theta).pow(2).flatten(1).mean(dim=1)
        if objective == "hybrid":
            # $\mathrm{sg}(\varepsilon_\theta)$: the bound's term trains the variance only
            output = torch.cat([eps_theta.detach(), output.chunk(2, dim=1)[1]], dim=1)
        # $L_t$, per example
        terms = vlb_term(
            output, x0, x_t, t, schedule, variance=variance, decoder=decoder, levels=levels
        )
        # $L_T$: no parameter in it, but part of the bound
        bound = terms / p + prior_kl(x0, schedule)
    # each part weighted by its probability: the mean over draws is the objective
    if objective == "simple":
        losses = mse / (T * p)
    elif objective == "vlb":
        losses = bound
    else:
        losses = mse / (T * p) + vlb_weight * bound
    return losses, t, terms.detach()
