"""Statistics shared by every layer: bootstrap confidence intervals and Fréchet distances."""
