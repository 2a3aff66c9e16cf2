"""Statistics shared by every layer: bootstrap confidence intervals (``bootstrap``) and
Fréchet distances with their feature statistics (``frechet``).

The bootstrap defaults live here, free of numpy and torch, so that command-line parsers can
show them without importing either: every interval hxbench reports is a 95 % percentile
interval over 1000 draws from seed 0 unless a caller asks otherwise (set-level draws, each
a Fréchet distance, have their own default: ``bootstrap.set_n_boot``).
"""

DEFAULT_N_BOOT = 1000
DEFAULT_ALPHA = 0.05
DEFAULT_SEED = 0
