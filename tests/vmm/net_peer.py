#!/usr/bin/python3
"""Host peer of the net guest test (tests/vmm/guests/net.c): waits for the tap the VMM
created, brings it up, sends one ethertype-0x88b5 frame to the guest's MAC through a
packet socket and prints the payload of the guest's answer."""
import os, socket, subprocess, sys, time

tap, guest_mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
deadline = time.time() + 20
while not os.path.exists("/sys/class/net/" + tap):
    if time.time() > deadline:
        sys.exit("tap %s never appeared" % tap)
    time.sleep(0.01)
subprocess.run(["ip", "link", "set", "dev", tap, "up"], check=True)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind((tap, 0x88B5))
s.settimeout(1)
me = bytes.fromhex("02aa00000001")
while time.time() < deadline:
    s.send(guest_mac + me + b"\x88\xb5" + b"hello net")
    try:
        while True:
            frame = s.recv(2048)
            if frame[6:12] == guest_mac:
                print("host got:", frame[14:].decode())
                sys.exit(0)
    except socket.timeout:
        continue  # the guest may not have posted buffers yet: send again
sys.exit("no answer from the guest")
