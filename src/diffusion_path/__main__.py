"""``python -m diffusion_path`` runs the ``diffusion-path`` command."""

import sys

from diffusion_path.cli import main

if __name__ == "__main__":  # the checker's child processes import this module too
    sys.exit(main())
