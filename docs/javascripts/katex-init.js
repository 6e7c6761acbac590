// Typeset every page with the KaTeX copy shipped in docs/assets: no CDN, works offline.
// Pages and docstrings reach the browser as \( \) and \[ \] (pymdownx.arithmatex, generic mode);
// notebook Markdown cells arrive as raw $...$ and $$...$$.
function renderMath(root) {
  renderMathInElement(root, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    ignoredClasses: ["highlight", "highlight-ipynb", "jp-CodeCell", "jp-OutputArea"],
    throwOnError: false,
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(function () {
    renderMath(document.body);
  });
} else {
  document.addEventListener("DOMContentLoaded", function () {
    renderMath(document.body);
  });
}
