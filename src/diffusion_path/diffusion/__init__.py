"""The core tasks: forward and reverse diffusion, noise prediction, the bound, training, DDIM.

Read in learning order: ``schedules`` and ``forward`` (Core Task 1), ``reverse`` (Core Task 2),
then the later tasks. ``oracle`` holds the exact noise predictors for Gaussian and
Gaussian-mixture data, the ground truth that samplers are tested against, and ``toy`` a small
network for 2-D data.
"""
