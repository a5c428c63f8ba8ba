"""The commands: ``limpyd-jobs-worker`` (``worker`` and its ``WorkerConfig`` in ``config``),
``limpyd-jobs-sweeper``, ``limpyd-jobs-schedule``; what they share (exit codes, logging,
``--database``) is in ``common``. Each module parses arguments and calls the package's logic."""
