"""One Lua script per atomic operation (``NAME.lua``), each with its typed wrapper (``NAME.py``:
``call(database, ...)`` takes the script's ARGV names as arguments and returns a typed result)."""
