"""Natural-scene-statistics IQA: NIQE, BRISQUE and PIQE, re-implemented after the originals.

Pure math on one grayscale frame (numpy float64, vectorised over blocks); the metric
(``hxbench.metrics.iqa``) does the I/O and the frame sampling. The learned parameters are
not here: NIQE's pristine model and BRISQUE's SVR are files of PyPI packages registered in
``hxbench.nets.nss_params``.

References matched (values on the five TID2013 images of IQA-PyTorch's ResultsCalibra table,
tested in ``tests/test_iqa_nss.py``; the measured differences are in ``docs/metrics/iqa.md``):

- NIQE: the original MATLAB release (Mittal, Soundararajan & Bovik 2013, LIVE ``niqe.m`` /
  ``computequality.m`` / ``computefeature.m`` / ``estimateaggdparam.m``) with its
  ``modelparameters.mat``, 96x96 blocks, no overlap, on ``rgb2gray`` of the image;
- BRISQUE: the original MATLAB release (Mittal, Moorthy & Bovik 2012, LIVE
  ``brisquequality.m`` / ``brisque_feature.m``) with its ``allrange`` scaling and ``allmodel``
  epsilon-SVR (libsvm ``svm-scale`` / ``svm-predict``, including the text round trips);
- PIQE: MATLAB's ``piqe`` (Image Processing Toolbox; Venkatanath et al. 2015), whose code is
  public through its ports (pypiqe, IQA-PyTorch).

Shared building blocks, each as its MATLAB original computes it: ``rgb2gray`` (uint8 in,
rounded), ``fspecial('gaussian', 7, 7/6)``, ``imfilter``/``filter2`` (correlation, replicate or
zero border), ``imresize(x, 0.5)`` (bicubic with antialiasing), ``circshift``, and MATLAB's
``min`` over a vector of NaNs (index 1).
"""

from __future__ import annotations

import math

import numpy as np

# -- MATLAB building blocks -----------------------------------------------------------------------
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])  # first row of inv(YIQ)


def rgb2gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 grey levels in [0, 255], integers, as MATLAB
    ``double(rgb2gray(uint8 image))`` (weighted sum rounded half away from zero)."""
    if frame.ndim == 2:
        return frame.astype(np.float64)
    y = frame.astype(np.float64) @ RGB2GRAY
    return np.floor(y + 0.5)  # y >= 0: round half away from zero


def gaussian_1d(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    """The separable factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised; the
    2-D window is its outer product with itself)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def filter_same(x: np.ndarray, g: np.ndarray, border: str) -> np.ndarray:
    """2-D correlation of (..., H, W) ``x`` with the separable window outer(g, g), output the size
    of ``x``: ``border='replicate'`` as ``imfilter(x, w, 'replicate')``, ``'zero'`` as
    ``filter2(w, x, 'same')`` / ``imfilter(x, w)``."""
    from scipy.ndimage import correlate1d

    mode = {"replicate": "nearest", "zero": "constant"}[border]
    y = correlate1d(x, g, axis=-2, mode=mode, cval=0.0)
    return correlate1d(y, g, axis=-1, mode=mode, cval=0.0)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) and 0-based source indices (out_len, P) of MATLAB ``imresize``'s
    bicubic kernel with antialiasing, mirrored at the borders, all-zero columns removed."""
    width = 4.0
    if scale < 1:
        kernel = lambda t: scale * _cubic(scale * t)  # noqa: E731
        width = width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    idx = aux[np.mod(idx - 1, len(aux)).astype(np.int64)] - 1
    keep = np.any(w != 0, axis=0)
    return w[:, keep], idx[:, keep]


def imresize(x: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(x, scale)`` of a (..., H, W) float64 array (default bicubic with
    antialiasing, output ceil(scale * size)); rows first, then columns, as MATLAB orders equal
    scales. No rounding (double input)."""
    h, w = x.shape[-2:]
    wr, ir = _contributions(h, int(math.ceil(scale * h)), scale)
    y = np.einsum("...opw,op->...ow", x[..., ir, :], wr)
    wc, ic = _contributions(w, int(math.ceil(scale * w)), scale)
    return np.einsum("...hop,op->...ho", y[..., ic], wc)


def mscn(x: np.ndarray, border: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients (x - mu) / (sigma + 1) and sigma, with
    the 7x7 Gaussian window (sigma 7/6) and the given border (see ``filter_same``)."""
    g = gaussian_1d()
    mu = filter_same(x, g, border)
    sigma = np.sqrt(np.abs(filter_same(x * x, g, border) - mu * mu))
    return (x - mu) / (sigma + 1), sigma


_GAM = np.arange(200, 10001, dtype=np.float64) / 1000.0  # MATLAB 0.2:0.001:10


def _gamma(x):
    from scipy.special import gamma

    return gamma(x)


def _argmin_matlab(d: np.ndarray) -> np.ndarray:
    """Row-wise index of the minimum ignoring NaN; a row of NaNs gives 0 (MATLAB ``min``)."""
    all_nan = np.all(np.isnan(d), axis=-1)
    out = np.argmin(np.where(np.isnan(d), np.inf, d), axis=-1)
    return np.where(all_nan, 0, out)


def aggd_fit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalised Gaussian fit of each row of ``v`` (B, N) by moment matching on
    the grid 0.2:0.001:10, as ``estimateaggdparam.m``: (alpha, left std, right std), each (B,).
    A row without negative (positive) values has a NaN left (right) std, as MATLAB's
    mean of an empty vector."""
    neg, pos = v < 0, v > 0
    v2 = v * v
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((v2 * neg).sum(-1) / neg.sum(-1))
        right = np.sqrt((v2 * pos).sum(-1) / pos.sum(-1))
        gh = left / right
        rhat = np.abs(v).mean(-1) ** 2 / v2.mean(-1)
        rnorm = rhat * (gh ** 3 + 1) * (gh + 1) / (gh ** 2 + 1) ** 2
    r_gam = _gamma(2 / _GAM) ** 2 / (_gamma(1 / _GAM) * _gamma(3 / _GAM))
    alpha = _GAM[_argmin_matlab((r_gam[None, :] - rnorm[:, None]) ** 2)]
    return alpha, left, right


def ggd_fit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Gaussian fit of each row of ``v`` (B, N), as BRISQUE's
    ``estimateggdparam.m``: (alpha, sigma), each (B,)."""
    sigma_sq = (v * v).mean(-1)
    e = np.abs(v).mean(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = sigma_sq / e ** 2
    r_gam = _gamma(1 / _GAM) * _gamma(3 / _GAM) / _gamma(2 / _GAM) ** 2
    alpha = _GAM[_argmin_matlab(np.abs(rho[:, None] - r_gam[None, :]))]
    return alpha, np.sqrt(sigma_sq)


def _circshift(x: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """MATLAB ``circshift`` over the last two axes."""
    return np.roll(x, shift, axis=(-2, -1))


# -- NIQE ---------------------------------------------------------------------------------------
NIQE_BLOCK = 96
NIQE_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def niqe_features(gray: np.ndarray, block: int = NIQE_BLOCK) -> np.ndarray:
    """(n_blocks, 36) NIQE features of a (H, W) float64 grey image (``computequality.m``):
    18 per scale from each non-overlapping block (``block`` at scale 1, ``block``/2 at scale 2;
    the image is cropped to whole blocks), MSCN with replicate borders, pairwise products with
    ``circshift`` inside each block."""
    h, w = gray.shape
    nr, nc = h // block, w // block
    if nr == 0 or nc == 0:
        raise ValueError(f"NIQE needs at least {block}x{block} pixels, got {w}x{h}")
    im = gray[:nr * block, :nc * block]
    feats = []
    for scale in (1, 2):
        s, _ = mscn(im, "replicate")
        b = block // scale
        blocks = s.reshape(nr, b, nc, b).transpose(0, 2, 1, 3).reshape(nr * nc, b, b)
        alpha, left, right = aggd_fit(blocks.reshape(len(blocks), -1))
        with np.errstate(invalid="ignore"):
            c = np.sqrt(_gamma(1 / alpha) / _gamma(3 / alpha))
        f = [alpha, (left * c + right * c) / 2]
        for sh in NIQE_SHIFTS:
            pair = (blocks * _circshift(blocks, sh)).reshape(len(blocks), -1)
            a, bl, br = aggd_fit(pair)
            with np.errstate(invalid="ignore"):
                c = np.sqrt(_gamma(1 / a) / _gamma(3 / a))
            bl, br = bl * c, br * c
            f += [a, (br - bl) * (_gamma(2 / a) / _gamma(1 / a)), bl, br]
        feats.append(np.stack(f, axis=1))
        if scale == 1:
            im = imresize(im, 0.5)
    return np.concatenate(feats, axis=1)


def niqe_from_features(feat: np.ndarray, mu_pris: np.ndarray, cov_pris: np.ndarray) -> float:
    """sqrt((mu_p - mu_d) pinv((C_p + C_d) / 2) (mu_p - mu_d)^T) with MATLAB's ``nanmean``
    (per column, NaNs ignored) and ``nancov`` (rows with any NaN dropped, unbiased). NaN when
    fewer than two blocks have finite features (a flat image)."""
    complete = feat[~np.any(np.isnan(feat), axis=1)]
    if len(complete) < 2:
        return float("nan")
    mu = np.nanmean(feat, axis=0)
    cov = np.cov(complete, rowvar=False)
    d = mu_pris.reshape(-1) - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_pris + cov) / 2) @ d))


# -- BRISQUE ------------------------------------------------------------------------------------
BRISQUE_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


def brisque_features(gray: np.ndarray) -> np.ndarray:
    """(36,) BRISQUE features of a (H, W) float64 grey image (``brisque_feature.m``): per scale
    the GGD (alpha, sigma^2) of the MSCN map (zero borders, ``filter2``) and, for 4 shifts of
    the whole map (``circshift``), the AGGD (alpha, mean, left var, right var) of the products;
    scale 2 is ``imresize(x, 0.5)``."""
    feats = []
    im = gray
    for scale in (1, 2):
        s, _ = mscn(im, "zero")
        a, sig = ggd_fit(s.reshape(1, -1))
        feats += [a[0], sig[0] ** 2]
        for sh in BRISQUE_SHIFTS:
            pair = (s * _circshift(s, sh)).reshape(1, -1)
            a, lft, rgt = aggd_fit(pair)
            a, lft, rgt = a[0], lft[0], rgt[0]
            const = math.sqrt(_gamma(1 / a)) / math.sqrt(_gamma(3 / a))
            feats += [a, (rgt - lft) * (_gamma(2 / a) / _gamma(1 / a)) * const, lft ** 2, rgt ** 2]
        if scale == 1:
            im = imresize(im, 0.5)
    return np.asarray(feats, dtype=np.float64)


def _round_sig(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """C ``printf('%g')`` then ``atof``: round to ``digits`` significant digits."""
    return np.array([float(f"{v:.{digits}g}") for v in np.asarray(x, dtype=np.float64)])


def brisque_scale(feat: np.ndarray, lower: float, upper: float, fmin: np.ndarray, fmax: np.ndarray,
                  text_round_trip: bool = True) -> np.ndarray:
    """libsvm ``svm-scale -r allrange`` of the 36 features. With ``text_round_trip`` the
    original's file hand-offs are reproduced: features written with ``%f`` (6 decimals) and
    scaled values with ``%g`` (6 significant digits). A feature equal to its min (max) maps to
    ``lower`` (``upper``); values outside the range are extrapolated (not clipped)."""
    f = np.round(feat, 6) if text_round_trip else feat
    with np.errstate(invalid="ignore", divide="ignore"):
        v = lower + (upper - lower) * (f - fmin) / (fmax - fmin)
    v = np.where(f == fmin, lower, np.where(f == fmax, upper, v))
    return _round_sig(v) if text_round_trip else v


def svr_predict(x: np.ndarray, sv: np.ndarray, coef: np.ndarray, gamma: float, rho: float) -> float:
    """epsilon-SVR with an RBF kernel, as libsvm ``svm_predict``:
    sum_i coef_i exp(-gamma ||sv_i - x||^2) - rho."""
    d2 = ((sv - x[None, :]) ** 2).sum(1)
    return float(np.dot(coef, np.exp(-gamma * d2)) - rho)


# -- PIQE ---------------------------------------------------------------------------------------
PIQE_BLOCK = 16
PIQE_ACTIVITY = 0.1
PIQE_IMPAIRED = 0.1
PIQE_WINDOW = 6


def piqe_score(gray: np.ndarray) -> float:
    """PIQE in [0, 100] (0 best) of a (H, W) float64 grey image with integer levels, as
    MATLAB ``piqe``: symmetric padding to whole 16x16 blocks, levels rescaled by
    round(255 x / max), MSCN with replicate borders; active blocks (unbiased variance > 0.1)
    score 1 - var when an edge segment of 6 pixels is flat (std < 0.1) and add var when the
    centre/surround deviation test finds noise; (sum + 1) / (n_active + 1) * 100. A flat image
    (no active block, or max 0) scores 100, as MATLAB documents."""
    b = PIQE_BLOCK
    h, w = gray.shape
    ph, pw = (-h) % b, (-w) % b
    im = np.pad(gray, ((0, ph), (0, pw)), mode="symmetric") if (ph or pw) else gray
    m = im.max()
    if m <= 0:
        return 100.0
    im = np.round(255 * (im / m))
    s, _ = mscn(im, "replicate")
    nr, nc = im.shape[0] // b, im.shape[1] // b
    blocks = s[:nr * b, :nc * b].reshape(nr, b, nc, b).transpose(0, 2, 1, 3).reshape(-1, b, b)
    var = blocks.reshape(len(blocks), -1).var(axis=1, ddof=1)
    active = var > PIQE_ACTIVITY

    # noticeable distortion: any 6-pixel segment of any edge with std < threshold
    edges = np.stack([blocks[:, 0, :], blocks[:, :, b - 1], blocks[:, b - 1, :], blocks[:, :, 0]], 1)
    segs = np.lib.stride_tricks.sliding_window_view(edges, PIQE_WINDOW, axis=-1)
    impaired = np.any(segs.std(axis=-1, ddof=1) < PIQE_IMPAIRED, axis=(1, 2))

    # noise: centre columns 8, 9 (1-based) against the surround without columns 8 and 10 (the
    # original deletes column 8, then column 9 of what is left)
    c1 = (b - 1 + 1) // 2  # 8 (1-based)
    centre = np.concatenate([blocks[:, :, c1 - 1], blocks[:, :, c1]], axis=1)
    keep = np.ones(b, bool)
    keep[[c1 - 1, c1 + 1]] = False
    surround = blocks[:, :, keep].reshape(len(blocks), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        csd = centre.std(axis=1, ddof=1) / surround.std(axis=1, ddof=1)
        csd = np.where(np.isnan(csd), 0.0, csd)
        sigma = np.sqrt(var)
        beta = np.abs(sigma - csd) / np.maximum(sigma, csd)
    noise = sigma > 2 * beta

    scores = active * (impaired * (1 - var) + noise * var)
    return float((scores.sum() + 1) / (active.sum() + 1) * 100)
