#!/usr/bin/env python3
# Drive `activeswap chat` through a pseudo-terminal, as a person would: wait for the
# "> " prompt, type a line, Ctrl-C in the middle of the first reply, a second line
# that is answered to the end, then Ctrl-D (EOF).
#   pty_drive.py TRANSCRIPT STDERR_FILE ACTIVESWAP chat ARGS...
# Prints one line "exit N" (or "signal N") and "prompts N"; the transcript is what the
# terminal showed.
import os, pty, select, sys, time

out_path, err_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    e = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(e, 2)
    os.execv(argv[0], argv)
buf = bytearray()

def read_some(timeout):
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    buf.extend(data)
    return bool(data)

def wait_for(pred, timeout):
    end = time.time() + timeout
    while not pred():
        if time.time() > end or not read_some(end - time.time()):
            return pred()
    return True

n_prompts = 0

def wait_prompt(timeout):
    """The "> " prompt: the output ends with it and nothing follows for a moment."""
    global n_prompts
    end = time.time() + timeout
    while time.time() < end:
        if buf.endswith(b"> ") and not read_some(0.5):
            n_prompts += 1
            return True
        if not buf.endswith(b"> ") and not read_some(end - time.time()):
            return False
    return False

ok = wait_prompt(120)
if ok:
    # turn 1, interrupted as soon as the reply has started
    os.write(fd, b"Once upon a time\n")
    start = len(buf)
    ok = wait_for(lambda: len(buf) > start + len(b"Once upon a time\r\n") + 8, 120)
    os.write(fd, b"\x03")
    ok = ok and wait_prompt(120)
if ok:
    # turn 2, to the end of the reply
    os.write(fd, b"The dog ran\n")
    ok = wait_prompt(600)
if ok:
    os.write(fd, b"\x04")
wait_for(lambda: False, 60 if ok else 1)  # drain until the child closes the pty
if not ok:
    os.kill(pid, 9)
_, st = os.waitpid(pid, 0)
open(out_path, "wb").write(bytes(buf))
if os.WIFSIGNALED(st):
    print("signal %d" % os.WTERMSIG(st))
else:
    print("exit %d" % os.WEXITSTATUS(st))
print("prompts %d" % n_prompts)
