"""Core Task 5's bug bank: mistakes learners make in the loss, the training step, the EMA and sampling."""

from bugbank import Bug

DRAW_T = (
    "t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator, device=generator.device)"
)
DRAW_EPS = (
    "eps = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype)"
)
NOISE = "x_t = q_sample(x0, t, schedule, noise=eps)"
LOSS = "return torch.mean((eps - model(x_t, t)) ** 2)"
ZERO_GRAD = "    optimizer.zero_grad(set_to_none=True)\n    with autocast:"
IF_CLIP = (
    "    if grad_clip is not None:\n"
    "        # $g \\leftarrow g \\min(1, c / \\lVert g \\rVert)$, the norm over all parameters together\n"
)
CLIP = "        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)\n"
STEP_COMMENT = "    # $\\theta \\leftarrow \\mathrm{step}(\\theta, g)$\n"
STEP = "    optimizer.step()\n    return loss.item()"
LERP = "averaged.lerp_(current.detach().to(averaged.dtype), 1.0 - decay)"
BUFFERS = (
    "        for averaged, current in zip(ema.buffers(), model.buffers(), strict=False):\n"
    "            averaged.copy_(current)\n"
)

BUGS = [
    # ------------------------------------------------------------------ simple_loss
    Bug(
        "steps drawn from 1 to T - 1: index 0 (the paper's t = 1) never trained",
        "simple_loss",
        DRAW_T,
        "t = torch.randint(1, schedule.T, (x0.shape[0],), generator=generator, device=generator.device)",
        "steps_are_uniform_over_every_index",
        "index 0 (the paper's t = 1) is a step like the others",
    ),
    Bug(
        "steps drawn from 0 to T - 2: the noisiest index never trained",
        "simple_loss",
        DRAW_T,
        "t = torch.randint(0, schedule.T - 1, (x0.shape[0],), generator=generator, device=generator.device)",
        "steps_are_uniform_over_every_index",
        "its upper end is excluded",
    ),
    Bug(
        "one step for the whole batch",
        "simple_loss",
        DRAW_T,
        "t = torch.randint(0, schedule.T, (1,), generator=generator, device=generator.device)"
        ".repeat(x0.shape[0])",
        "steps_are_uniform_over_every_index",
        "one index per example",
    ),
    Bug(
        "noise drawn twice: q_sample draws its own, the target is another",
        "simple_loss",
        NOISE,
        "x_t = q_sample(x0, t, schedule, generator=generator)",
        "a_model_that_knows_the_data_scores_zero",
        "The noise drawn twice",
    ),
    Bug(
        "noise drawn twice: the target is a fresh draw, not the noise that made x_t",
        "simple_loss",
        LOSS,
        "return torch.mean((torch.randn(x0.shape, generator=generator, dtype=x0.dtype) - "
        "model(x_t, t)) ** 2)",
        "a_model_that_knows_the_data_scores_zero",
        "The noise drawn twice",
    ),
    Bug(
        "noised by hand with abar and 1 - abar, no square roots",
        "simple_loss",
        NOISE,
        "abar = schedule.alpha_bars.to(x0.dtype)[t].reshape(-1, *([1] * (x0.ndim - 1)))\n"
        "    x_t = abar * x0 + (1 - abar) * eps",
        "a_model_that_knows_the_data_scores_zero",
        "noise with sqrt(abar_t) and sqrt(1 - abar_t)",
    ),
    Bug(
        "the model asked for x0 instead of the noise",
        "simple_loss",
        LOSS,
        "return torch.mean((x0 - model(x_t, t)) ** 2)",
        "a_model_that_knows_the_data_scores_zero",
        "not the data x0",
    ),
    Bug(
        "the model given the paper's step t + 1",
        "simple_loss",
        LOSS,
        "return torch.mean((eps - model(x_t, t + 1)) ** 2)",
        "a_model_that_knows_the_data_scores_zero",
        "not the paper's step t + 1",
    ),
    Bug(
        "the sum of the squared errors instead of their mean",
        "simple_loss",
        LOSS,
        "return torch.sum((eps - model(x_t, t)) ** 2)",
        "loss_is_the_mean_over_examples_and_coordinates",
        "not their sum",
    ),
    Bug(
        "summed over the coordinates, averaged over the examples",
        "simple_loss",
        LOSS,
        "return ((eps - model(x_t, t)) ** 2).flatten(1).sum(dim=1).mean()",
        "loss_is_the_mean_over_examples_and_coordinates",
        "Average over the coordinates too",
    ),
    Bug(
        "the absolute error instead of the squared error",
        "simple_loss",
        LOSS,
        "return torch.mean((eps - model(x_t, t)).abs())",
        "loss_is_the_mean_over_examples_and_coordinates",
        "squared, not its absolute value",
    ),
    Bug(
        "averaged over the batch axis only: a loss per coordinate",
        "simple_loss",
        LOSS,
        "return torch.mean((eps - model(x_t, t)) ** 2, dim=0)",
        "loss_is_a_scalar_that_carries_gradients",
        "with no dim argument",
    ),
    Bug(
        "the prediction detached from the graph",
        "simple_loss",
        LOSS,
        "return torch.mean((eps - model(x_t, t).detach()) ** 2)",
        "loss_is_a_scalar_that_carries_gradients",
        "no .detach()",
    ),
    Bug(
        "noise from the global random state",
        "simple_loss",
        DRAW_EPS,
        "eps = torch.randn_like(x0)",
        "draws_only_from_its_generator",
        "never from np.random",
    ),
    # ------------------------------------------------------------------ training_step
    Bug(
        "the loss it is given ignored: always the simple loss",
        "training_step",
        "loss = (loss_fn or simple_loss)(model, x0, schedule, generator)",
        "loss = simple_loss(model, x0, schedule, generator)",
        "the_loss_it_is_given_is_the_one_minimised",
        "with loss_fn when it is not None",
    ),
    Bug(
        "the gradients are never cleared",
        "training_step",
        ZERO_GRAD,
        "    with autocast:",
        "stale_gradients_are_cleared_first",
        "call optimizer.zero_grad() before the backward pass",
    ),
    Bug(
        "the gradients cleared between backward and step",
        "training_step",
        "    loss.backward()\n",
        "    loss.backward()\n    optimizer.zero_grad()\n",
        "the_step_follows_the_gradient_of_the_batch",
        "not between it and the step",
    ),
    Bug(
        "no optimiser step",
        "training_step",
        STEP,
        "    return loss.item()",
        "the_step_follows_the_gradient_of_the_batch",
        "then call optimizer.step()",
    ),
    Bug(
        "the gradient clipped after the step",
        "training_step",
        CLIP + STEP_COMMENT + STEP,
        "        pass\n    optimizer.step()\n"
        "    if grad_clip is not None:\n"
        "        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)\n"
        "    return loss.item()",
        "the_gradient_norm_is_clipped_before_the_step",
        "clipping after the step changes nothing",
    ),
    Bug(
        "every entry of the gradient clipped instead of its norm",
        "training_step",
        CLIP,
        "        nn.utils.clip_grad_value_(model.parameters(), grad_clip)\n",
        "the_gradient_norm_is_clipped_before_the_step",
        "not each entry (clip_grad_value_)",
    ),
    Bug(
        "each parameter's gradient clipped on its own",
        "training_step",
        CLIP,
        "        for parameter in model.parameters():\n"
        "            nn.utils.clip_grad_norm_([parameter], grad_clip)\n",
        "the_gradient_norm_is_clipped_before_the_step",
        "not each parameter on its own",
    ),
    Bug(
        "always clipped, to 1 when no grad_clip is given",
        "training_step",
        IF_CLIP + CLIP,
        "    nn.utils.clip_grad_norm_(model.parameters(), grad_clip or 1.0)\n",
        "the_step_follows_the_gradient_of_the_batch",
        "without grad_clip, do not clip",
    ),
    Bug(
        "a step taken even when the loss is NaN",
        "training_step",
        "    if not torch.isfinite(loss):  # diverged: no step, the caller stops\n"
        "        return loss.item()\n",
        "",
        "a_loss_that_is_not_finite_takes_no_step",
        "Check torch.isfinite(loss) before loss.backward()",
    ),
    Bug(
        "the loss computed outside the autocast block",
        "training_step",
        "    with autocast:\n        loss = (loss_fn or simple_loss)(model, x0, schedule, generator)",
        "    loss = (loss_fn or simple_loss)(model, x0, schedule, generator)",
        "bf16_runs_the_model_under_autocast",
        "inside the block `with autocast:`",
    ),
    Bug(
        "the loss returned as a tensor",
        "training_step",
        STEP,
        "    optimizer.step()\n    return loss",
        "returns_the_promised_type",
        "Returns section promises",
    ),
    # ------------------------------------------------------------------ ema_update
    Bug(
        "decay inverted: the average takes a share decay of the model",
        "ema_update",
        LERP,
        "averaged.lerp_(current.detach().to(averaged.dtype), decay)",
        "ema_moves_a_share_one_minus_decay_toward_the_model",
        "weight = 1 - decay",
    ),
    Bug(
        "a new tensor bound to the loop variable: the module is unchanged",
        "ema_update",
        LERP,
        "averaged = decay * averaged + (1 - decay) * current",
        "ema_moves_a_share_one_minus_decay_toward_the_model",
        "assigning a new tensor to the loop variable",
    ),
    Bug(
        "the model's weights copied: no average at all",
        "ema_update",
        LERP,
        "averaged.copy_(current)",
        "ema_moves_a_share_one_minus_decay_toward_the_model",
        "Move only a share 1 - decay",
    ),
    Bug(
        "the model moved toward the average instead",
        "ema_update",
        LERP,
        "current.lerp_(averaged, 1.0 - decay)",
        "the_model_is_left_alone_and_nothing_is_shared",
        "not the model toward the EMA",
    ),
    Bug(
        "the EMA's tensors pointed at the model's",
        "ema_update",
        LERP,
        "averaged.data = current.data",
        "the_model_is_left_alone_and_nothing_is_shared",
        "do not make them point to the model's",
    ),
    Bug(
        "buffers left as they were",
        "ema_update",
        BUFFERS,
        "",
        "buffers_are_copied_not_averaged",
        "copy each of the model's buffers",
    ),
    Bug(
        "buffers averaged like the weights",
        "ema_update",
        "            averaged.copy_(current)\n",
        "            averaged.lerp_(current, 1.0 - decay)\n",
        "buffers_are_copied_not_averaged",
        "do not average them like the weights",
    ),
    Bug(
        "the update recorded for gradients (no torch.no_grad)",
        "ema_update",
        "    with torch.no_grad():\n        for averaged, current in pairs:",
        "    if True:\n        for averaged, current in pairs:",
        "the_update_records_no_gradients",
        "torch.no_grad()",
    ),
    # ------------------------------------------------------------------ sample_images
    Bug(
        "sampled in training mode (model.eval() forgotten)",
        "sample_images",
        "    model.eval()\n    try:",
        "    try:",
        "the_model_samples_in_evaluation_mode",
        "Switch the network to evaluation mode",
    ),
    Bug(
        "left in evaluation mode after sampling",
        "sample_images",
        "    finally:\n        model.train(was_training)\n    return samples",
        "    finally:\n        pass\n    return samples",
        "the_model_is_put_back_in_its_mode",
        "Keep was_training = model.training",
    ),
    Bug(
        "put in training mode after sampling, whatever its mode was",
        "sample_images",
        "        model.train(was_training)",
        "        model.train()",
        "the_model_is_put_back_in_its_mode",
        "not model.train() whatever the mode was",
    ),
    Bug(
        "mode restored after sampling, but not when sampling raises (no try/finally)",
        "sample_images",
        "    try:\n"
        "        # $x_T \\sim \\mathcal N(0, I)$, then T reverse steps with $\\hat x_0$ clipped\n"
        "        samples = ddpm_sample(\n"
        "            model, (num, *image_shape), schedule, clip_x0=True, generator=generator, progress=False\n"
        "        )\n"
        "    finally:\n"
        "        model.train(was_training)\n",
        "    samples = ddpm_sample(\n"
        "        model, (num, *image_shape), schedule, clip_x0=True, generator=generator, progress=False\n"
        "    )\n"
        "    model.train(was_training)\n",
        "the_mode_is_restored_even_if_sampling_fails",
        "in a finally block",
    ),
    Bug(
        "the network's error swallowed: sampling failures return None",
        "sample_images",
        "    finally:\n        model.train(was_training)\n    return samples",
        "    except RuntimeError:\n        samples = None\n    finally:\n        model.train(was_training)\n    return samples",
        "the_mode_is_restored_even_if_sampling_fails",
        "Let the network's errors through",
    ),
    Bug(
        "x0_hat not clipped",
        "sample_images",
        "clip_x0=True, generator=generator, progress=False",
        "generator=generator, progress=False",
        "x0_is_clipped_at_every_step",
        "clip_x0=True",
    ),
]
