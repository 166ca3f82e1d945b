"""``python -m llamatasks`` runs the command line."""

from llamatasks.cli import main

main()
