"""Diffusion Path: diffusion models in eleven tested tasks.

The package is read in learning order: ``foundations`` holds the pre-tasks
(Gaussians, sampling, Markov chains, VAEs, denoising autoencoders) and
``diffusion`` the core tasks (forward and reverse diffusion, noise prediction,
the variational bound, training, DDIM). ``tasks`` lists the path, ``check``
grades a learner's implementation and ``cli`` is the ``diffusion-path`` command.
"""

__version__ = "0.1.0"
