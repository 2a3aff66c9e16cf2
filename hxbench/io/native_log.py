"""Start-up chatter of native libraries (MediaPipe, TensorFlow Lite), dropped from stderr.

MediaPipe's C++ graphs log through absl before anything initialises absl's logging, so their
start-up warnings go straight to file descriptor 2 (no environment variable silences them) and
a user scoring a folder of videos saw four lines like ``W0000 ... inference_feedback_manager.cc
:114] Feedback manager requires a model with a single signature inference`` per video.
``native_log_filtered()`` points descriptor 2 at a temporary file while a graph is built or
first run, then writes back every line that is not one of the known benign messages below, so
a real warning or error still reaches the user (after the block instead of during it).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

# Substrings of lines that say nothing to a user (each seen on every MediaPipe start-up).
BENIGN = (
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
    b"Feedback manager requires a model with a single signature inference",
    b"Using NORM_RECT without IMAGE_DIMENSIONS is only supported for the square ROI",
    b"Created TensorFlow Lite XNNPACK delegate for CPU",
)

_LOCK = threading.RLock()  # one redirection at a time (descriptor 2 is process-wide)


def drop_benign(data: bytes) -> bytes:
    """``data`` without its lines that contain a ``BENIGN`` message."""
    return b"".join(line for line in data.splitlines(keepends=True) if not any(b in line for b in BENIGN))


@contextmanager
def native_log_filtered() -> Iterator[None]:
    """Run the block with descriptor 2 captured; afterwards write back what it logged, less
    the ``BENIGN`` lines. Anything else written to stderr during the block (by other threads
    too) is delayed, not lost."""
    with _LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable descriptor 2 (an embedded interpreter)
            yield
            return
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except ValueError:
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = drop_benign(capture.read())
                if kept:
                    os.write(2, kept)
