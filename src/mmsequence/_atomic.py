"""Files written whole or not at all: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8 with ``\\n`` line ends) to ``path``, which holds either its
    old content or all of the new; OutputError naming the file if the write fails (a full or
    read-only disk), with nothing left behind."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        temporary = Path(name)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise OutputError(f"{path}: cannot be written ({error.strerror or error})") from None
