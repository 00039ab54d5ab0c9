"""Generations of an index directory: build a complete new one aside, then switch atomically.

``root/CURRENT`` names the live generation (a directory ``gen-<time>-<random>`` beside it).
Switching writes the new name to a temporary file, fsyncs it and replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX), then deletes every other generation. Readers that still
hold files of a deleted generation keep reading them (POSIX keeps unlinked open files); a
reader that needs a file it hasn't opened yet gets FileNotFoundError and reopens CURRENT.
Readers notice a switch with one ``stat`` of CURRENT (its inode changes).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

POINTER = "CURRENT"


class Generations:
    def __init__(self, root: Path) -> None:
        self.root = root

    def stamp(self) -> tuple | None:
        """Changes whenever CURRENT is replaced; None when there is no generation yet."""
        try:
            stat = os.stat(self.root / POINTER)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def current(self) -> Path | None:
        try:
            name = (self.root / POINTER).read_text().strip()
        except FileNotFoundError:
            return None
        return self.root / name if name else None

    def new(self) -> Path:
        """An empty directory for the next generation (not live until ``switch_to``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        directory = self.root / f"gen-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        directory.mkdir()
        return directory

    def switch_to(self, directory: Path) -> None:
        """Make ``directory`` the live generation, then delete every other one."""
        temporary = self.root / f".{POINTER}.{uuid.uuid4().hex}"
        with open(temporary, "w") as handle:
            handle.write(directory.name)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.root / POINTER)
        root_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(root_fd)  # the rename itself survives a crash
        finally:
            os.close(root_fd)
        for old in self.root.glob("gen-*"):
            if old != directory:
                shutil.rmtree(old, ignore_errors=True)

    def discard(self, directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)
