"""Run commands for the benchmark (`python -m bench`): report their wall time and peak RSS.

Reads one JSON request per line on stdin: {"cmd": [...], "stdout": path, "stderr": path},
starts the command with `subprocess.Popen`, reaps it with `os.wait4(pid, 0)` and answers
one JSON line: {"seconds": wall time, "maxrss_kib": ru_maxrss, "cpu": user + system
seconds, "exit": exit code}.

Why a separate process: Linux folds the parent's high-water RSS into a child's
`ru_maxrss` when the child execs, so a child started by the benchmark (hundreds of MB of
frames and imports) would report at least that much. This launcher stays small
(bare Python, few imports), which bounds that floor at its own size: `cp` shows it.
"""

import json
import os
import subprocess
import sys
import time


def run(request: dict) -> dict:
    stdout, stderr = request.get("stdout") or os.devnull, request.get("stderr") or os.devnull
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(request["cmd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "cpu": cpu, "exit": proc.returncode}


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
