"""`python -m bench.rss CMD...`: run CMD and print its peak RSS in KB as the last line of stderr.

Linux carries a parent's resident-set high-water mark into a forked child, so measuring a step straight from
the benchmark process (which holds the generated data) would report the benchmark's own memory. This small
process in between starts the step from a small address space.
"""

import os
import subprocess
import sys

proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"__peak_rss_kb__={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
