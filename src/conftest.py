"""Doctest collection for the library: the exercise stubs are left out.

The stubs carry the reference's docstrings, examples included, but raise
``NotImplementedError`` until a learner fills them in.
"""

collect_ignore = ["diffusion_path/exercises"]
