"""``python -m monitor.cli``: the same as the ``calmline`` command."""

from monitor.cli.app import main

main()
