r"""Exact noise predictors: the ε a perfect network would output, for data whose law is known.

A network trained with the DDPM loss (eq. 14) learns, at best, the conditional mean of the noise
given the noisy point (the minimiser of a squared error is a conditional expectation):

$$\varepsilon^*(x_t, t) = \mathbb E[\varepsilon \mid x_t]
= -\sqrt{1-\bar\alpha_t}\;\nabla_{x_t}\log q_t(x_t),$$

where $q_t$ is the law of $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$. For
Gaussian data $x_0 \sim \mathcal N(\boldsymbol\mu, \Sigma)$ it is linear in $x_t$,

$$q_t = \mathcal N\big(\sqrt{\bar\alpha_t}\boldsymbol\mu,\ \Sigma_t\big),\quad
\Sigma_t = \bar\alpha_t\Sigma + (1-\bar\alpha_t)I,\quad
\varepsilon^* = \sqrt{1-\bar\alpha_t}\;\Sigma_t^{-1}\big(x_t - \sqrt{\bar\alpha_t}\boldsymbol\mu\big),$$

and for a mixture $\sum_k w_k\,\mathcal N(\boldsymbol\mu_k, \Sigma_k)$ it is the average of the
components' predictors weighted by their posterior responsibilities
$r_k(x_t) \propto w_k\,\mathcal N(x_t; \sqrt{\bar\alpha_t}\boldsymbol\mu_k, \Sigma_{k,t})$.

These oracles stand in for a trained model anywhere one is expected (``model(x, t)``, with ``t``
the 0-based index of the schedule, so $\bar\alpha$ is ``schedule.alpha_bars[t]``), so a sampler
can be tested exactly, with no training. Computations run in float64; the output has
the dtype of ``x_t``.
"""

from __future__ import annotations

import math

import torch

from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools import validation

__all__ = ["GaussianMixtureOracle", "GaussianOracle"]


def _as_matrix(value: object, name: str, d: int | None = None) -> torch.Tensor:
    """A symmetric positive-definite float64 matrix (checked by the shared NumPy helper)."""
    array = validation.covariance(
        value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, name, dim=d
    )
    return torch.as_tensor(array, dtype=torch.float64)


def _as_vector(value: object, name: str) -> torch.Tensor:
    array = validation.mean_vector(
        value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, name
    )
    return torch.as_tensor(array, dtype=torch.float64)


class GaussianMixtureOracle:
    r"""The exact $\varepsilon^*(x_t, t) = \mathbb E[\varepsilon \mid x_t]$ for data from a Gaussian mixture.

    $$\varepsilon^*(x_t, t) = \sum_k r_k(x_t)\,\sqrt{1-\bar\alpha_t}\,\Sigma_{k,t}^{-1}
    \big(x_t - \sqrt{\bar\alpha_t}\boldsymbol\mu_k\big),\qquad
    \Sigma_{k,t} = \bar\alpha_t\Sigma_k + (1-\bar\alpha_t)I$$

    Call it like a trained model: ``oracle(x, t)`` with ``x`` of shape ``(B, d)`` and ``t`` the
    0-based index (an int or a LongTensor of shape ``(B,)``): ``x`` is the paper's $x_{t+1}$ and
    $\bar\alpha$ in the formula is ``schedule.alpha_bars[t]`` $= \bar\alpha_{t+1}$.

    Args:
        weights: Mixture weights $w_k$, shape ``(K,)``, positive (normalised to sum to one).
        means: Component means $\boldsymbol\mu_k$, shape ``(K, d)``.
        covs: Component covariances $\Sigma_k$, shape ``(K, d, d)``, or a positive float for
            $\sigma^2 I$ shared by all components.
        schedule: The noise schedule that defines $\bar\alpha_t$.

    Raises:
        ValueError: if the weights are not positive, or the shapes disagree.

    Examples:
        >>> schedule = NoiseSchedule.linear(100, 1e-3, 0.1)
        >>> oracle = GaussianMixtureOracle([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], 0.1, schedule)
        >>> oracle(torch.zeros(1, 2), 50)  # by symmetry, no preferred direction at the origin
        tensor([[0., 0.]])
        >>> x0, component = oracle.sample(1000, torch.Generator().manual_seed(0))
        >>> x0.shape, round((component == 0).float().mean().item(), 1)
        (torch.Size([1000, 2]), 0.5)
    """

    def __init__(
        self,
        weights: object,
        means: object,
        covs: object,
        schedule: NoiseSchedule,
    ) -> None:
        self.schedule = validation.noise_schedule(schedule)
        weights = torch.as_tensor(
            validation.positive(
                weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else weights,
                "weights",
            ),
            dtype=torch.float64,
        )
        if weights.ndim != 1:
            raise ValueError(f"weights must be a 1-D vector, got shape {tuple(weights.shape)}")
        means = torch.as_tensor(
            validation.as_float_array(
                means.detach().cpu().numpy() if isinstance(means, torch.Tensor) else means, "means"
            )
        )
        if means.ndim != 2 or means.shape[0] != weights.shape[0]:
            raise ValueError(
                f"means must have shape ({weights.shape[0]}, d), one row per weight, "
                f"got {tuple(means.shape)}"
            )
        K, d = means.shape
        if isinstance(covs, int | float):
            variance = float(validation.positive(covs, "covs"))
            covs = variance * torch.eye(d, dtype=torch.float64).expand(K, d, d).clone()
        else:
            raw = covs.detach().cpu().numpy() if isinstance(covs, torch.Tensor) else covs
            raw = validation.as_float_array(raw, "covs")
            if raw.shape != (K, d, d):
                raise ValueError(f"covs must have shape ({K}, {d}, {d}), got {raw.shape}")
            covs = torch.stack([_as_matrix(raw[k], f"covs[{k}]", d) for k in range(K)])
        self.weights = weights / weights.sum()
        self.means = means.to(torch.float64)
        self.covs = covs
        self.d = d

    def marginal(self, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Weights, means and covariances of $q_t$, the law of $x_t$: a mixture again (DDPM eq. 4).

        $$q_t = \sum_k w_k\,\mathcal N\big(\sqrt{\bar\alpha_t}\boldsymbol\mu_k,\
        \bar\alpha_t\Sigma_k + (1-\bar\alpha_t)I\big)$$

        Args:
            t: 0-based index in ``[0, T-1]``: the law of the paper's $x_{t+1}$, with
                $\bar\alpha$ = ``schedule.alpha_bars[t]``.

        Returns:
            ``(weights, means, covs)`` of shapes ``(K,)``, ``(K, d)``, ``(K, d, d)``, float64.
        """
        (t,) = validation.timesteps(t, self.schedule.T, 1).tolist()
        alpha_bar = self.schedule.alpha_bars[t]
        eye = torch.eye(self.d, dtype=torch.float64)
        # $\Sigma_{k,t} = \bar\alpha_t \Sigma_k + (1 - \bar\alpha_t) I$
        covs = alpha_bar * self.covs + (1 - alpha_bar) * eye
        # $\sqrt{\bar\alpha_t} \boldsymbol\mu_k$
        return self.weights.clone(), torch.sqrt(alpha_bar) * self.means, covs

    def log_prob(self, x: torch.Tensor, t: int | None = None) -> torch.Tensor:
        r"""$\log q_t(x)$ (or $\log q_0$, the data density, when ``t`` is ``None``); ``x`` of shape ``(..., d)``."""
        if t is None:
            weights, means, covs = self.weights, self.means, self.covs
        else:
            weights, means, covs = self.marginal(t)
        x = torch.as_tensor(x, dtype=torch.float64)
        components = torch.distributions.MultivariateNormal(means, covariance_matrix=covs)
        log_p = components.log_prob(x.unsqueeze(-2))  # (..., K)
        return torch.logsumexp(log_p + torch.log(weights), dim=-1)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Draw ``n`` data points $x_0$ and the component each came from.

        Returns:
            ``(x0, component)``: float32 points of shape ``(n, d)`` and a LongTensor of shape ``(n,)``.
        """
        n = validation.positive_int(n, "n")
        generator = validation.torch_generator(generator)
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covs)[component]
        eps = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        # $x_0 = \boldsymbol\mu_k + L_k \varepsilon$
        x0 = self.means[component] + (chol @ eps.unsqueeze(-1)).squeeze(-1)
        return x0.to(torch.float32), component

    def __call__(self, x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        x_t = validation.float_tensor(x_t, "x_t", min_dim=2)
        if x_t.ndim != 2 or x_t.shape[1] != self.d:
            raise ValueError(f"x_t must have shape (B, {self.d}), got {tuple(x_t.shape)}")
        t = validation.timesteps(t, self.schedule.T, x_t.shape[0]).cpu()
        x = x_t.detach().cpu().to(torch.float64)
        steps = torch.unique(t)
        if len(steps) == 1:  # a sampler's batch: every example at the same step
            eps = self._eps(x, int(steps[0]))
        else:
            eps = torch.empty_like(x)
            for step in steps.tolist():
                rows = t == step
                eps[rows] = self._eps(x[rows], step)
        return eps.to(device=x_t.device, dtype=x_t.dtype)

    def _eps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        r"""$\varepsilon^*$ for float64 points ``x`` of shape ``(n, d)``, all at the 0-based step ``t``."""
        alpha_bar = self.schedule.alpha_bars[t]
        eye = torch.eye(self.d, dtype=torch.float64)
        # $\Sigma_{k,t} = \bar\alpha_t \Sigma_k + (1 - \bar\alpha_t) I$, shape (K, d, d)
        chol = torch.linalg.cholesky(alpha_bar * self.covs + (1 - alpha_bar) * eye)
        precision = torch.cholesky_inverse(chol)
        # $x_t - \sqrt{\bar\alpha_t} \boldsymbol\mu_k$, shape (n, K, d)
        diff = x.unsqueeze(1) - torch.sqrt(alpha_bar) * self.means
        # $\Sigma_{k,t}^{-1}(x_t - \sqrt{\bar\alpha_t}\boldsymbol\mu_k)$
        solved = torch.einsum("kij,nkj->nki", precision, diff)
        # $\log w_k + \log\mathcal N(x_t; \sqrt{\bar\alpha_t}\boldsymbol\mu_k, \Sigma_{k,t})$
        maha = (diff * solved).sum(-1)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        log_joint = torch.log(self.weights) - 0.5 * (
            maha + log_det + self.d * math.log(2 * math.pi)
        )
        # $r_k(x_t)$, the posterior probability of component $k$
        responsibility = torch.softmax(log_joint, dim=1)
        # $\varepsilon^* = \sqrt{1 - \bar\alpha_t} \sum_k r_k \Sigma_{k,t}^{-1}(x_t - \sqrt{\bar\alpha_t}\boldsymbol\mu_k)$
        return torch.sqrt(1 - alpha_bar) * (responsibility.unsqueeze(-1) * solved).sum(1)


class GaussianOracle(GaussianMixtureOracle):
    r"""The exact $\varepsilon^*(x_t, t)$ for Gaussian data $x_0 \sim \mathcal N(\boldsymbol\mu, \Sigma)$: linear in $x_t$.

    $$\varepsilon^*(x_t, t) = \sqrt{1-\bar\alpha_t}\;\big(\bar\alpha_t\Sigma + (1-\bar\alpha_t)I\big)^{-1}
    \big(x_t - \sqrt{\bar\alpha_t}\boldsymbol\mu\big)$$

    A one-component [`GaussianMixtureOracle`][diffusion_path.tools.oracle.GaussianMixtureOracle];
    [`affine`][diffusion_path.tools.oracle.GaussianOracle.affine] gives the matrix and offset
    of the linear map, from which the moments of any sampler can be propagated exactly.

    Args:
        mean: $\boldsymbol\mu$, shape ``(d,)``.
        cov: $\Sigma$, symmetric positive definite, shape ``(d, d)``.
        schedule: The noise schedule.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))  # alpha_bar 0.64
        >>> oracle = GaussianOracle([0.0], [[1.0]], schedule)  # data N(0, 1): x_t ~ N(0, 1) too
        >>> oracle(torch.tensor([[1.0]]), 0)  # E[eps | x_t] = sqrt(1 - alpha_bar) x_t
        tensor([[0.6000]])
    """

    def __init__(self, mean: object, cov: object, schedule: NoiseSchedule) -> None:
        mean = _as_vector(mean, "mean")
        cov = _as_matrix(
            cov.detach().cpu().numpy() if isinstance(cov, torch.Tensor) else cov,
            "cov",
            mean.shape[0],
        )
        super().__init__([1.0], mean.unsqueeze(0), cov.unsqueeze(0).numpy(), schedule)
        self.mean, self.cov = mean, cov

    def affine(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        r"""$(M_t, \mathbf c_t)$ with $\varepsilon^*(x_t, t) = M_t x_t + \mathbf c_t$ (float64).

        $$M_t = \sqrt{1-\bar\alpha_t}\,\Sigma_t^{-1},\qquad
        \mathbf c_t = -\sqrt{1-\bar\alpha_t}\,\sqrt{\bar\alpha_t}\,\Sigma_t^{-1}\boldsymbol\mu$$
        """
        (t,) = validation.timesteps(t, self.schedule.T, 1).tolist()
        alpha_bar = self.schedule.alpha_bars[t]
        cov_t = alpha_bar * self.cov + (1 - alpha_bar) * torch.eye(self.d, dtype=torch.float64)
        M = torch.sqrt(1 - alpha_bar) * torch.linalg.inv(cov_t)
        return M, -torch.sqrt(alpha_bar) * (M @ self.mean)
