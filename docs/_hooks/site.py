"""MkDocs hooks: the site's figures and tables come from the library at build time.

- every figure of every task (``diffusion_path.figures``) is rendered and added to
  the site as ``figures/<task-id>/<name>.png``;
- a line ``<!-- table: <task-id>/<name> -->`` in a page is replaced by the table the
  library computes;
- notebook pages lose the script tags that the notebook converter points at a CDN
  or at nothing (MathJax, Mermaid): KaTeX, shipped with the site, typesets their
  math instead.
"""

from __future__ import annotations

import re

from mkdocs.structure.files import File, Files

from diffusion_path import figures
from diffusion_path.tasks import TASKS

TABLE = re.compile(r"^<!--\s*table:\s*([\w-]+)/([\w-]+)\s*-->[ \t]*$", re.MULTILINE)
# A script loaded from another host, or with an empty ``src`` (which re-requests the page).
REMOTE_SCRIPT = re.compile(
    r"<script[^>]*\ssrc=[\"'](?:https?:)?(?://[^\"']*)?[\"'][^>]*>\s*</script>", re.IGNORECASE
)


def on_files(files: Files, config) -> Files:
    for task in TASKS:
        for name in figures.figure_names(task):
            uri = f"figures/{task.id}/{name}.png"
            files.append(File.generated(config, uri, content=figures.figure_bytes(task, name)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    return TABLE.sub(lambda match: figures.table(match.group(1), match.group(2)), markdown)


def on_post_page(output: str, page, config) -> str:
    return REMOTE_SCRIPT.sub("", output)
