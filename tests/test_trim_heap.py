"""trim_heap gives the C heap's free pages back to the kernel (checked in a real child)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import sys
from scoot.shared.kernel import trim_heap

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

# 48 MiB in 96 KiB buffers (below glibc's mmap threshold: they come from the heap),
# each followed by a small one that stays, so freeing them leaves holes, not a top.
kept, freed = [], []
for n in range(512):
    freed.append(bytearray(96 * 1024))
    kept.append(bytearray(1024))  # over pymalloc's 512 bytes: from the C heap too
del freed
before = rss_kib()
trimmed = trim_heap()
print(trimmed, before, rss_kib())
"""


@pytest.mark.timeout(30)
@pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION"), reason="malloc_trim is glibc's")
def test_trim_heap_returns_the_freed_holes_of_the_heap() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=30
    )
    trimmed, before, after = done.stdout.split()
    assert trimmed == "True"
    # The holes were resident (bytearray zeroes them); after the trim, most are not.
    assert int(before) - int(after) > 32 * 1024, done.stdout
