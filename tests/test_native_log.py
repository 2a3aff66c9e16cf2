"""Native libraries' start-up chatter is dropped from stderr; every other line still arrives."""

import subprocess
import sys
import textwrap

import pytest

from hxbench.io.native_log import BENIGN, drop_benign


def _stderr_of(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_drop_benign_keeps_every_other_line():
    data = (b"W0000 00:00:1.2 123 inference_feedback_manager.cc:114] " + BENIGN[1] + b".\n"
            b"E0000 real trouble\n" + b"WARNING: " + BENIGN[0] + b"\n" + b"partial line without newline")
    assert drop_benign(data) == b"E0000 real trouble\npartial line without newline"


def test_filtered_block_drops_benign_lines_and_delays_the_rest():
    err = _stderr_of("""
        import os, sys
        from hxbench.io.native_log import native_log_filtered
        print("before", file=sys.stderr)
        with native_log_filtered():
            os.write(2, b"W0000 x.cc:1] Feedback manager requires a model with a single signature inference.\\n")
            os.write(2, b"F0000 a real native error\\n")
            print("python inside", file=sys.stderr)
        print("after", file=sys.stderr)
    """)
    assert err.splitlines() == ["before", "F0000 a real native error", "python inside", "after"]


def test_mediapipe_start_up_prints_nothing():
    pytest.importorskip("mediapipe")
    err = _stderr_of("""
        import numpy as np
        from hxbench.face.detect import detect_faces, face_mesh, hands, pose
        frames = np.zeros((2, 96, 96, 3), np.uint8)
        face_mesh(frames); hands(frames); pose(frames); detect_faces(frames)
    """)
    assert err == ""



def test_quiet_start_covers_the_graph_threads_logging_between_start_and_first_frame():
    # MediaPipe's constructor only starts the graph; its calculators open, and log, on worker
    # threads until the first process() waits for the graph to go idle. The fake graph below
    # logs from such a thread as soon as it may; a block that ended at construction let it out.
    err = _stderr_of("""
        import os, threading
        from hxbench.face.detect import QuietStart

        release = threading.Event()

        class Graph:
            def __init__(self):
                def open_calculators():
                    release.wait()
                    os.write(2, b"W0000 x.cc:114] Feedback manager requires a model with a single signature inference.\\n")
                self.worker = threading.Thread(target=open_calculators)
                self.worker.start()
            def process(self, frame):
                self.worker.join()  # as MediaPipe waits for idle
                return frame
            def close(self):
                pass

        graphs = []
        session = QuietStart(lambda: graphs.append(Graph()) or graphs[-1])
        release.set()
        for graph in graphs:  # whatever a started graph logs before its first frame
            graph.worker.join()
        assert session.process(1) == 1 and session.process(2) == 2
        session.close()
    """)
    assert err == ""
