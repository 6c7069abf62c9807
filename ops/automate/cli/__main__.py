"""``python -m automate.cli`` is the ``automate`` command."""

from automate.cli.main import main

main()
