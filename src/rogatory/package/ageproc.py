"""age encryption and decryption by pyrage, run in a child process over pipes.

pyrage's calls hold the GIL until they finish, so in the calling process
nothing else (writing the archive, hashing) could run meanwhile. Running the
call in a child Python process (``python -m rogatory.package.ageproc``) gives
pyrage a core of its own while this process writes, checks and hashes the same
bytes on the other, connected by pipes of :data:`PIPE_SIZE` bytes:

* encryption is ``pyrage.encrypt_file(source, stdout)``: Rust reads the
  plaintext file itself and writes the age file to :attr:`AgeProcess.stdout`
  (path to path, the fastest way; in-process, Python-level streaming through
  ``encrypt_io`` is slower);
* decryption is ``pyrage.decrypt_io`` between the child's stdin and stdout,
  each behind a 1 MiB buffer: the age file is written to
  :attr:`AgeProcess.stdin`, the plaintext read from :attr:`AgeProcess.stdout`.
  ``decrypt_file`` on the pipes would move 8 KiB per system call, each waking
  the other side; the buffers cut the pipeline's CPU time by about a quarter.

age authenticates every 64 KiB chunk, so a truncated or altered file is only
known bad when the child fails: a decrypting caller must treat every byte it
read as untrusted until :meth:`AgeProcess.finish` returned.

Keys travel on a separate pipe, never on the command line or in the
environment (both are visible to other local users through ``/proc``). Only
age X25519 recipients and identities are used (the only kind Rogatory makes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from rogatory.errors import RogatoryError

PIPE_SIZE = 1 << 20
"""Bytes a pipe to or from the child holds (the Linux default maximum for users)."""
BUFFER_SIZE = 1 << 20
"""Buffer of this side's reader and writer: reads return whole 1 MiB blocks."""
SMALL_PAYLOAD = 8 << 20
"""Files (and age files) up to this many bytes are en/decrypted in the calling process,
in memory, with ``pyrage.encrypt`` / ``decrypt``: starting a child costs tens of
milliseconds, which would dominate an item of many small files."""

_DECRYPT_FAILED = 3
_OTHER_FAILURE = 4


class AgeError(RogatoryError):
    """The child's pyrage call failed; ``message`` is pyrage's reason."""


class AgeProcess:
    """One running pyrage call (``encrypt_file`` or ``decrypt_io``) in a child process.

    Use :func:`encrypt` or :func:`decrypt`, as a context manager: leaving the
    block early (an exception) kills the child. Within the block, read
    :attr:`stdout` to its end (and, decrypting, write the age file to
    :attr:`stdin` and close it), then call :meth:`finish`.
    """

    def __init__(self, request: dict[str, Any], *, feed_stdin: bool) -> None:
        control_r, control_w = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _cleanup
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rogatory.package.ageproc", str(control_r)],
                stdin=subprocess.PIPE if feed_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                pass_fds=(control_r,),
                bufsize=0,
            )
        except BaseException:
            os.close(control_w)
            self._stderr.close()
            raise
        finally:
            os.close(control_r)
        with os.fdopen(control_w, "wb") as control:
            control.write(json.dumps(request).encode())
        self.stdin: BinaryIO | None = None
        if feed_stdin:
            assert self.proc.stdin is not None
            _grow_pipe(self.proc.stdin.fileno())
            self.stdin = open(self.proc.stdin.fileno(), "wb", buffering=BUFFER_SIZE, closefd=False)  # noqa: SIM115
        assert self.proc.stdout is not None
        _grow_pipe(self.proc.stdout.fileno())
        self.stdout: BinaryIO = open(  # noqa: SIM115 - closed in _cleanup
            self.proc.stdout.fileno(), "rb", buffering=BUFFER_SIZE, closefd=False
        )

    def close_stdin(self) -> None:
        """Signal the end of the age file (decryption); ignores a child that already quit."""
        if self.stdin is None:
            return
        stdin, self.stdin = self.stdin, None
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()

    def finish(self) -> None:
        """Wait for the child and say whether its pyrage call succeeded.

        Raises:
            AgeError: pyrage refused (for decryption: wrong key, altered or
                truncated file) or the child failed otherwise; the message says why.
        """
        self.close_stdin()
        code = self.proc.wait()
        if code == 0:
            return
        self._stderr.seek(0)
        reason = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        detail = reason[-1] if reason else f"the age process exited with status {code}"
        raise AgeError(detail, "")

    def kill(self) -> None:
        """Stop the child at once (its output is then incomplete)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _cleanup(self) -> None:
        self.close_stdin()
        self.stdout.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> AgeProcess:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None or self.proc.poll() is None:
            self.kill()
        self._cleanup()


def _grow_pipe(fd: int) -> None:
    """Make the pipe hold :data:`PIPE_SIZE` bytes, if the system allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def encrypt(source: Path, recipients: Sequence[str]) -> AgeProcess:
    """Start encrypting the file ``source`` to age X25519 ``recipients`` (``age1…``);
    the age file comes out of :attr:`AgeProcess.stdout`.

    Raises:
        OSError: the child could not be started.
    """
    request = {
        "op": "encrypt",
        "input": str(source),
        "output": "/dev/stdout",
        "keys": list(recipients),
    }
    return AgeProcess(request, feed_stdin=False)


def decrypt(identity: str) -> AgeProcess:
    """Start decrypting with the age X25519 ``identity`` (``AGE-SECRET-KEY-1…``): write
    the age file to :attr:`AgeProcess.stdin`, read the plaintext from :attr:`AgeProcess.stdout`.

    Raises:
        OSError: the child could not be started.
    """
    request = {"op": "decrypt", "keys": [identity]}
    return AgeProcess(request, feed_stdin=True)


def _child(argv: list[str]) -> int:
    """The child: read the request from the control pipe, run pyrage, exit 0 on success."""
    import pyrage

    with os.fdopen(int(argv[0]), "rb") as control:
        request = json.loads(control.read())
    try:
        if request["op"] == "encrypt":
            keys = [pyrage.x25519.Recipient.from_str(k) for k in request["keys"]]
            pyrage.encrypt_file(request["input"], request["output"], keys)
        else:
            idents = [pyrage.x25519.Identity.from_str(k) for k in request["keys"]]
            with (
                open(0, "rb", buffering=BUFFER_SIZE, closefd=False) as src,
                open(1, "wb", buffering=BUFFER_SIZE, closefd=False) as dst,
            ):
                pyrage.decrypt_io(src, dst, idents)
    except pyrage.DecryptError as exc:
        print(f"age: {exc}", file=sys.stderr)
        return _DECRYPT_FAILED
    except Exception as exc:  # pyrage maps I/O errors to several types
        print(f"age: {type(exc).__name__}: {exc}", file=sys.stderr)
        return _OTHER_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
