"""Metrics: one file per metric, each registering itself with ``@register_metric``.

Every module in this package is imported here so that its metrics and weights register.
Modules import heavy optional dependencies lazily (inside functions), so importing the
package never needs a network, a GPU or an optional package.
"""

import importlib
import pkgutil

from hxbench.metrics.base import (  # noqa: F401  (re-exported)
    HIGHER, INVARIANT, LOWER, NEUTRAL, TRACKS_SHIFT, WORSE, AggregateValue, Expect, Metric, PerSampleMetric,
    SampleData, SampleScore, build_metric, expect_all, parse_metric_key, register_metric,
)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
