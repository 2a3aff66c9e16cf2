"""Publication: run comparison and regression checks, the HTML run report, leaderboards and
their site, and submissions (archives, signed bundles, rescoring)."""
