#!/usr/bin/python3
"""Sends each argument as one command line to the cocoon-vmm API socket (argv[1]) and
prints each answer line. "sleep:SECONDS" waits instead of sending."""
import socket, sys, time

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
with s, s.makefile("rw") as f:
    for cmd in sys.argv[2:]:
        if cmd.startswith("sleep:"):
            time.sleep(float(cmd[6:]))
            continue
        f.write(cmd + "\n")
        f.flush()
        print(f.readline().strip(), flush=True)
