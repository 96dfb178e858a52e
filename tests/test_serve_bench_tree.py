"""bench serve's process-tree figures (psutil): a server's workers count towards its CPU time and memory."""

import subprocess
import sys
import time

import psutil

from digitlab.bench.serve import tree_cpu_seconds, tree_rss_mb

# A parent that starts a child which burns CPU and holds 64 MB, then waits: as uvicorn does with its workers.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "b = bytearray(64 << 20)\\nb[::4096] = b'x' * len(b[::4096])\\n"
                          "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass\\n"
                          "print('done', flush=True)\\ntime.sleep(30)"], stdout=sys.stdout)
child.wait()
"""


def test_tree_counts_descendants():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "done"  # the grandchild has burnt its CPU and holds its memory
        time.sleep(0.05)
        assert tree_cpu_seconds(parent.pid) >= 0.5  # the parent itself only waited: the child's time is counted
        assert tree_rss_mb(parent.pid) >= 64
    finally:
        for member in psutil.Process(parent.pid).children(recursive=True):
            member.kill()
        parent.kill()
        parent.wait()
    # Gone: nothing to count, and no error.
    assert tree_cpu_seconds(parent.pid) == 0.0 and tree_rss_mb(parent.pid) == 0.0
