"""Leaderboards: board schemas (``board.py``), ranking, and the static site (``site.py``).
See docs/leaderboards.md."""
