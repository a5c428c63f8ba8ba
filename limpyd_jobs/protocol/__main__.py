"""``python -m limpyd_jobs.protocol``: print the table of Redis keys (as docs/ARCHITECTURE.md has it)."""

from .vocabulary import key_table

print(key_table(), end="")
