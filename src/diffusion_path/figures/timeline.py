"""The data of the pages' interactive figures, in the "timeline" format of ``docs/javascripts/figures.js``.

A timeline is a list of frames with one label each, and panels made of layers — rasters (images,
densities) and point clouds — that hold one entry per frame, or one for all; the format is
documented at the top of the script. The helpers below write the layers; a task's ``DATA``
functions (Core 1, Core 2, Core 6) put them together.
"""

from __future__ import annotations

import base64

import numpy as np

__all__ = ["points_layer", "raster_layer"]


def raster_layer(
    frames: np.ndarray, colormap: str = "gray", scale: list[float] | None = None
) -> dict:
    """A raster layer: ``frames`` of shape ``(n, H, W)`` or ``(n, H, W, 3)`` with values in [0, 1].

    Each frame is sent as the base64 text of its bytes (0..255, row-major, the first row at the
    top, channels last). ``colormap`` is ``"gray"`` or ``"rgb"`` for pictures, ``"density"`` for a
    density drawn in the theme's colour with its opacity; ``scale`` (optional) records, per frame,
    the value that 255 stands for.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames must have shape (n, H, W) or (n, H, W, 3), got {frames.shape}")
    pixels = np.rint(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)
    layer = {
        "type": "raster",
        "width": int(frames.shape[2]),
        "height": int(frames.shape[1]),
        "channels": 1 if frames.ndim == 3 else 3,
        "colormap": colormap,
        "frames": [base64.b64encode(frame.tobytes()).decode("ascii") for frame in pixels],
    }
    if scale is not None:
        layer["scale"] = [float(f"{s:.6g}") for s in scale]
    return layer


def points_layer(
    points: np.ndarray, style: str = "main", paths: int = 0, trail: int = 0, decimals: int = 2
) -> dict:
    """A point-cloud layer: ``points`` of shape ``(n, P, 2)``, one cloud per frame (``n = 1``: static).

    ``style`` is ``"main"`` or ``"faint"`` (a reference, such as the data, drawn under the rest);
    ``paths`` asks for the track of the first ``paths`` points up to the shown frame, from the
    first frame or, with ``trail``, over the last ``trail`` frames.
    """
    points = np.round(np.asarray(points, dtype=np.float64), decimals)
    if points.ndim != 3 or points.shape[2] != 2:
        raise ValueError(f"points must have shape (n, P, 2), got {points.shape}")
    layer = {
        "type": "points",
        "style": style,
        "x": points[..., 0].tolist(),
        "y": points[..., 1].tolist(),
    }
    if paths:
        layer["paths"] = int(paths)
    if trail:
        layer["trail"] = int(trail)
    return layer
