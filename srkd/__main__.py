import sys

from srkd.interrupts import EXIT_INTERRUPTED, ignore_from_now, install_for_process

install_for_process()  # before the imports, so that a signal during start-up already stops cleanly
try:
    from srkd.cli import run

    run()
except KeyboardInterrupt:  # during the imports above (run() handles its own)
    ignore_from_now()
    print("srkd: interrupted", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)
