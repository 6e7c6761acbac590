"""The pre-tasks: the probability and modelling tools that diffusion models are built from."""
