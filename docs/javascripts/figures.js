/* Interactive figures: a slider, and where the data asks for it a play button, over the frames
 * of a figure whose data the site build computes with the library (DATA in a task's module of
 * diffusion_path.figures; docs/_hooks/site.py serves it as data/<task-id>/<name>.json). No
 * dependencies; the only request is for that file, on the site itself.
 *
 * A page asks for a figure with
 *
 *   <div class="dp-figure" data-src="../../data/core-1/forward.json"></div>
 *
 * and the data, "dp-timeline/1", reads
 *
 *   { "format": "dp-timeline/1",
 *     "caption": "what the figure shows",       read out by screen readers
 *     "slider": "step t",                       the slider's name
 *     "labels": ["t = 0", "t = 25", ...],       one per frame: this sets the number of frames
 *     "start": 0,                               optional: the frame shown first
 *     "play": { "fps": 12 },                    optional: a play/pause button, frames per second
 *     "columns": 4,                             optional: panels per row (at most 2 on phones)
 *     "panels": [
 *       { "title": "photograph · linear",
 *         "labels": ["ᾱ = 1.00", ...],          optional: the panel's own label, one per frame
 *         "limits": [xmin, xmax, ymin, ymax],   optional: the data coordinates the panel spans
 *         "layers": [                           drawn in order, the first at the bottom
 *           { "type": "raster", "width": 64, "height": 64, "channels": 1,
 *             "colormap": "gray",               "gray" or "rgb" (pictures), "density"
 *             "frames": ["<base64 of the bytes>" or "data:image/png;base64,...", ...] },
 *           { "type": "points", "style": "main", "main" or "faint" (a reference, e.g. the data)
 *             "paths": 8,                       optional: track the first 8 points so far,
 *             "trail": 10,                      optional: over the last 10 frames only
 *             "x": [[x of each point], ...], "y": [[...], ...] } ] } ] }
 *
 * A layer holds one entry per frame, or a single one shown in every frame. A raster fills its
 * panel; its bytes run row by row from the top, channels last. "density" paints the theme's colour
 * with the value as its opacity. Panels side by side share the slider, so two samplers' paths
 * (DDPM against DDIM, say) need only two panels. Colours come from the CSS custom properties
 * --dp-figure-* (docs/stylesheets/extra.css), so the figures follow the light and dark schemes.
 */
(function () {
  "use strict";

  const live = []; // the figures on the current page
  const requests = new Map(); // url -> Promise of the parsed data
  let count = 0;

  function element(tag, className, parent) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (parent) parent.appendChild(el);
    return el;
  }

  function load(url) {
    if (!requests.has(url)) {
      requests.set(
        url,
        fetch(url).then((response) => {
          if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
          return response.json();
        })
      );
    }
    return requests.get(url);
  }

  // The entry of a layer's list for a frame: a single entry stands for every frame.
  function at(list, frame) {
    return list.length === 1 ? list[0] : list[Math.min(frame, list.length - 1)];
  }

  function colours(root) {
    const style = getComputedStyle(root);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      point: read("--dp-figure-point", "#e65100"),
      faint: read("--dp-figure-faint", "rgba(128, 128, 128, 0.35)"),
      path: read("--dp-figure-path", "#333"),
      heat: read("--dp-figure-heat", "103, 58, 183"), // "r, g, b"
    };
  }

  // One raster frame as a canvas of its own size (made once, then reused), or null while a PNG
  // is still loading.
  function rasterFrame(layer, frame, scheme, redraw) {
    layer.cache = layer.cache || new Map();
    const key = `${Math.min(frame, layer.frames.length - 1)} ${scheme.heat}`;
    if (layer.cache.has(key)) return layer.cache.get(key);
    const source = at(layer.frames, frame);
    const canvas = document.createElement("canvas");
    if (typeof source === "string" && source.startsWith("data:")) {
      const image = new Image();
      layer.cache.set(key, null);
      image.onload = () => {
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        canvas.getContext("2d").drawImage(image, 0, 0);
        layer.cache.set(key, canvas);
        redraw();
      };
      image.src = source;
      return null;
    }
    const bytes =
      typeof source === "string" ? Uint8Array.from(atob(source), (c) => c.charCodeAt(0)) : source;
    const { width, height } = layer;
    const channels = layer.channels || 1;
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    const image = context.createImageData(width, height);
    const heat = scheme.heat.split(",").map(Number);
    for (let i = 0; i < width * height; i++) {
      const v = bytes[i * channels];
      const rgba =
        layer.colormap === "density"
          ? [heat[0], heat[1], heat[2], v]
          : channels === 3
            ? [v, bytes[i * 3 + 1], bytes[i * 3 + 2], 255]
            : [v, v, v, 255];
      image.data.set(rgba, i * 4);
    }
    context.putImageData(image, 0, 0);
    layer.cache.set(key, canvas);
    return canvas;
  }

  function drawPanel(panel, frame, scheme, redraw) {
    const canvas = panel.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const [x0, x1, y0, y1] = panel.data.limits || [0, 1, 0, 1];
    const px = (x) => ((x - x0) / (x1 - x0)) * width;
    const py = (y) => ((y1 - y) / (y1 - y0)) * height;
    const radius = Math.max(1.1, width / 240);
    for (const layer of panel.data.layers) {
      if (layer.type === "raster") {
        const picture = rasterFrame(layer, frame, scheme, redraw);
        if (!picture) continue;
        context.imageSmoothingEnabled = layer.colormap === "density";
        context.drawImage(picture, 0, 0, width, height);
      } else if (layer.type === "points") {
        const xs = at(layer.x, frame);
        const ys = at(layer.y, frame);
        const tracked = Math.min(layer.paths || 0, xs.length);
        if (tracked && layer.x.length > 1) {
          const first = layer.trail ? Math.max(0, frame - layer.trail) : 0;
          context.strokeStyle = scheme.path;
          context.lineWidth = 1;
          context.globalAlpha = 0.6;
          for (let i = 0; i < tracked; i++) {
            context.beginPath();
            for (let f = first; f <= frame; f++) {
              const x = px(layer.x[f][i]);
              const y = py(layer.y[f][i]);
              if (f === first) context.moveTo(x, y);
              else context.lineTo(x, y);
            }
            context.stroke();
          }
          context.globalAlpha = 1;
        }
        context.fillStyle = layer.style === "faint" ? scheme.faint : scheme.point;
        context.beginPath();
        for (let i = 0; i < xs.length; i++) {
          const x = px(xs[i]);
          const y = py(ys[i]);
          context.moveTo(x + radius, y);
          context.arc(x, y, radius, 0, 2 * Math.PI);
        }
        context.fill();
      }
    }
  }

  // Build the figure's panels and controls inside `root`, from `data`.
  function build(root, data) {
    const frames = data.labels.length;
    const id = `dp-figure-${++count}`;
    const figure = {
      root,
      data,
      frame: Math.max(0, Math.min(frames - 1, data.start || 0)),
      playing: false,
    };
    root.textContent = "";
    root.setAttribute("role", "group");
    root.setAttribute("aria-label", data.caption || "interactive figure");
    // the frame's label heads the figure; it is also the slider's spoken value
    figure.output = element("output", "dp-figure__label", root);
    figure.output.htmlFor = id;
    figure.output.setAttribute("aria-live", "polite");
    const grid = element("div", "dp-figure__panels", root);
    const columns = Math.min(data.columns || 1, data.panels.length);
    root.style.setProperty("--dp-columns", columns);
    root.classList.toggle("dp-figure--wide", columns > 2); // two per row on a phone
    figure.panels = data.panels.map((panelData) => {
      const box = element("figure", "dp-figure__panel", grid);
      if (panelData.title) element("figcaption", "dp-figure__title", box).textContent = panelData.title;
      const canvas = element("canvas", null, box);
      canvas.setAttribute("role", "img");
      const [x0, x1, y0, y1] = panelData.limits || [0, 1, 0, 1];
      const raster = panelData.layers.find((layer) => layer.type === "raster");
      const aspect = panelData.limits || !raster ? (x1 - x0) / (y1 - y0) : raster.width / raster.height;
      canvas.style.aspectRatio = String(aspect);
      const label = panelData.labels ? element("div", "dp-figure__panel-label", box) : null;
      return { data: panelData, canvas, label };
    });
    const controls = element("div", "dp-figure__controls", root);
    if (data.play) {
      figure.button = element("button", "dp-figure__play md-button", controls);
      figure.button.type = "button";
      figure.button.addEventListener("click", () => (figure.playing ? pause(figure) : play(figure)));
    }
    const name = element("label", "dp-figure__name", controls);
    name.htmlFor = id;
    name.textContent = data.slider || "frame";
    const slider = element("input", "dp-figure__slider", controls);
    Object.assign(slider, { type: "range", id, min: 0, max: frames - 1, step: 1 });
    slider.value = figure.frame;
    slider.addEventListener("input", () => {
      pause(figure);
      show(figure, Number(slider.value));
    });
    figure.slider = slider;
    new ResizeObserver(() => draw(figure)).observe(grid);
    pause(figure);
    show(figure, figure.frame);
    return figure;
  }

  function draw(figure) {
    const scheme = colours(figure.root);
    const redraw = () => draw(figure);
    for (const panel of figure.panels) drawPanel(panel, figure.frame, scheme, redraw);
  }

  function show(figure, frame) {
    const { data } = figure;
    figure.frame = frame;
    figure.slider.value = frame;
    figure.slider.setAttribute("aria-valuetext", data.labels[frame]);
    figure.output.textContent = data.labels[frame];
    figure.root.dataset.frame = frame;
    for (const panel of figure.panels) {
      const own = panel.data.labels ? at(panel.data.labels, frame) : "";
      if (panel.label) panel.label.textContent = own;
      const parts = [panel.data.title, data.labels[frame], own].filter(Boolean);
      panel.canvas.setAttribute("aria-label", parts.join(", "));
    }
    draw(figure);
  }

  function play(figure) {
    const frames = figure.data.labels.length;
    if (figure.frame >= frames - 1) show(figure, 0);
    figure.playing = true;
    figure.button.textContent = "Pause";
    figure.button.setAttribute("aria-pressed", "true");
    figure.output.setAttribute("aria-live", "off"); // no announcement for every frame
    const interval = 1000 / (figure.data.play.fps || 10);
    let last = performance.now();
    const tick = (now) => {
      if (!figure.playing || !figure.root.isConnected) return;
      if (now - last >= interval) {
        last = now;
        show(figure, figure.frame + 1);
        if (figure.frame >= frames - 1) return pause(figure);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  function pause(figure) {
    figure.playing = false;
    if (!figure.button) return;
    figure.button.textContent = "Play";
    figure.button.setAttribute("aria-pressed", "false");
    figure.output.setAttribute("aria-live", "polite");
  }

  function start() {
    for (let i = live.length - 1; i >= 0; i--) {
      if (!live[i].root.isConnected) live.splice(i, 1).forEach(pause);
    }
    for (const root of document.querySelectorAll(".dp-figure[data-src]:not([data-ready])")) {
      root.dataset.ready = "loading";
      load(new URL(root.dataset.src, document.baseURI).href)
        .then((data) => {
          live.push(build(root, data));
          root.dataset.ready = "yes";
        })
        .catch((error) => {
          root.dataset.ready = "failed";
          element("p", "dp-figure__error", root).textContent =
            `The interactive figure could not be loaded (${error.message}).`;
        });
    }
  }

  // The light/dark switch changes the colours: draw again.
  new MutationObserver(() => live.forEach(draw)).observe(document.body, {
    attributes: true,
    attributeFilter: ["data-md-color-scheme"],
  });

  if (typeof document$ !== "undefined") {
    document$.subscribe(start);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
