"""Exceptions with messages a user can act on.

Every error that reaches a user names the file or sample it is about and what is wrong.
"""

from __future__ import annotations


class HxbenchError(Exception):
    """Base class: the CLI prints these as one clean line (no traceback) and exits 1/2."""


class MediaError(HxbenchError):
    """A media file or array is unreadable, empty or out of specification."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SampleError(HxbenchError):
    """A metric cannot score one sample (no face, no audio, too short ...).

    The run records it for that sample and goes on; the sample is excluded from the
    aggregate and counted as failed, never silently dropped.
    """


class MetricUnavailable(HxbenchError):
    """A metric cannot run here, usually because its weights are missing.

    ``fix`` is the exact command (or step) that makes it available.
    """

    def __init__(self, metric: str, reason: str, fix: str) -> None:
        self.metric = metric
        self.reason = reason
        self.fix = fix
        super().__init__(f"{metric} is unavailable: {reason}. Fix: {fix}")


class WeightsMissing(HxbenchError):
    def __init__(self, name: str, fix: str) -> None:
        self.name = name
        self.fix = fix
        super().__init__(f"weights {name!r} are not installed. Fix: {fix}")


class WeightsHashMismatch(HxbenchError):
    def __init__(self, name: str, path: object, expected: str, actual: str) -> None:
        super().__init__(
            f"weights {name!r} at {path}: sha256 {actual} does not match the registered {expected}"
        )


class ManifestError(HxbenchError):
    """A manifest or task definition is malformed."""


class SubmissionError(HxbenchError):
    """A submission is refused; ``problems`` lists every reason (one line each)."""

    def __init__(self, problems: list[str], what: str = "submission") -> None:
        self.problems = list(problems)
        super().__init__(f"{what} refused ({len(problems)} problem(s)):\n  " + "\n  ".join(problems))
