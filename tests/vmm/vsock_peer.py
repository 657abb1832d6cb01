#!/usr/bin/python3
"""Host peer of the vsock guest test (tests/vmm/guests/vsock.c): serves PATH_5000
(answers "pong: <line>"), then connects to PATH, sends CONNECT 1024, checks the OK
line and the echo. Prints what it saw; exits non-zero on any mismatch."""
import os, socket, sys, threading, time

path = sys.argv[1]

server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path + "_5000")
server.listen(1)
server.settimeout(20)

def serve():
    c, _ = server.accept()
    with c, c.makefile("rb") as cf:
        line = cf.readline()
        c.sendall(b"pong: " + line)

t = threading.Thread(target=serve)
t.start()

deadline = time.time() + 20
while not os.path.exists(path):
    if time.time() > deadline:
        sys.exit("no vsock socket " + path)
    time.sleep(0.01)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(path)
s.sendall(b"CONNECT 1024\n")
f = s.makefile("rb")
ok = f.readline().decode()
print("host got:", ok.strip())
if not ok.startswith("OK "):
    sys.exit("expected OK, got %r" % ok)
s.sendall(b"hello guest\n")
echo = f.readline()
print("host echo:", echo.decode().strip())
f.close()  # the socket closes only once its file objects are closed too
s.close()
t.join()
server.close()
os.unlink(path + "_5000")
