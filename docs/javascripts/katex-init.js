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

// A display equation wider than its column (a phone) is set in a smaller size that fits, down to
// MIN_SCALE of its own; only one wider still scrolls in its box (docs/stylesheets/extra.css).
// KaTeX sizes everything in em, so the width scales with the font size.
var MIN_SCALE = 0.72;

function fitDisplays(root) {
  root.querySelectorAll(".katex-display > .katex").forEach(function (math) {
    var tag = math.querySelector(".katex-tag");
    math.style.fontSize = "";
    if (tag) tag.style.fontSize = "";
    var room = math.clientWidth;
    var need = math.scrollWidth;
    if (room === 0 || need <= room + 1) return; // hidden (a closed block), or it fits
    var size = parseFloat(window.getComputedStyle(math).fontSize);
    var scale = Math.max(MIN_SCALE, room / need);
    math.style.fontSize = (size * scale).toFixed(2) + "px";
    // padding and rounding: shrink by what is still over, a few times, within the limit
    for (var i = 0; i < 4 && scale > MIN_SCALE; i++) {
      var over = math.scrollWidth - math.clientWidth;
      if (over <= 0) break;
      scale = Math.max(MIN_SCALE, scale * (1 - (over + 1) / math.scrollWidth));
      math.style.fontSize = (size * scale).toFixed(2) + "px";
    }
    // the number keeps its size: it sits in its own room, beside the box
    if (tag) tag.style.fontSize = (100 / scale).toFixed(1) + "%";
  });
}

function typeset(root) {
  renderMath(root);
  fitDisplays(root);
  if (document.fonts && document.fonts.ready) {
    document.fonts.ready.then(function () {
      fitDisplays(root);
    });
  }
}

var refit = null;
window.addEventListener("resize", function () {
  clearTimeout(refit);
  refit = setTimeout(function () {
    fitDisplays(document.body);
  }, 150);
});
// a collapsed block's equations have no width until it opens
document.addEventListener(
  "toggle",
  function (event) {
    if (event.target.open) fitDisplays(event.target);
  },
  true,
);

if (typeof document$ !== "undefined") {
  document$.subscribe(function () {
    typeset(document.body);
  });
} else {
  document.addEventListener("DOMContentLoaded", function () {
    typeset(document.body);
  });
}
