"""A long-lived process that runs ``srkd`` command lines for the fuzz tests, under a memory limit.

Started by ``fuzzlib.Sandbox``. It imports srkd, torch, ONNX Runtime and OpenCV once, then sets
RLIMIT_AS to what it uses now plus ``LIMIT_MB``: a command that tries to allocate more (a header
asking for a huge network, a decompression bomb) fails here with an allocation error, which the
test reports as the bug it is, instead of taking the machine down. Each request is one JSON line
(``args``, ``cwd``); each answer one JSON line: the exit code the real program would have, what went
to file descriptors 1 and 2 (C libraries' prints included), and the traceback of an uncaught
exception (a real process would print it and exit 1).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import traceback


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _run(cli, args: list[str]) -> tuple[int, str | None]:
    try:
        cli.main(args=args, prog_name="srkd", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return (code if isinstance(code, int) else (0 if code is None else 1)), None
    except BaseException:  # noqa: BLE001 - exactly what the fuzz tests look for
        return 1, traceback.format_exc()
    return 0, None


def main() -> None:
    limit = int(sys.argv[1]) * 2**20
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    import cv2  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401

    import srkd.api  # noqa: F401
    import srkd.cli.distill  # noqa: F401
    import srkd.cli.export  # noqa: F401
    import srkd.cli.upscale  # noqa: F401
    import srkd.evaluate  # noqa: F401
    from srkd.cli import main as cli

    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + limit, resource.RLIM_INFINITY))
    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        os.chdir(req["cwd"])
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code, tb = _run(cli, req["args"])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            out.seek(0)
            err.seek(0)
            answer = {"code": code, "traceback": tb, "stdout": out.read().decode("utf-8", "replace"),
                      "stderr": err.read().decode("utf-8", "replace")}
        proto.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
