"""``python -m diffusion_path`` runs the ``diffusion-path`` command."""

import sys

from diffusion_path.cli import main

sys.exit(main())
