#!/usr/bin/env python3
"""Tiny TCP-MD5 (RFC 2385) peer over IPv6 for producing a test capture.

usage: md5peer.py server|client LOCAL PEER KEY
server: listens on [LOCAL]:179, reads one message, answers, closes.
client: connects to [PEER]:179, sends a BGP-KEEPALIVE-sized message, reads the answer.
Every run is bounded by a 10 s socket timeout.
"""
import socket
import struct
import sys

TCP_MD5SIG = 14


def md5sig(peer: str, key: bytes) -> bytes:
    # struct sockaddr_in6 inside a 128-byte sockaddr_storage
    sa = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0)
    sa += socket.inet_pton(socket.AF_INET6, peer) + struct.pack("=I", 0)
    sa = sa.ljust(128, b"\0")
    # tcpm_flags, tcpm_prefixlen, tcpm_keylen, tcpm_ifindex, tcpm_key[80]
    return sa + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(80, b"\0")


def main() -> None:
    role, local, peer, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, key))
    keepalive = b"\xff" * 16 + b"\x00\x13\x04"
    if role == "server":
        s.bind((local, 179))
        s.listen(1)
        conn, _ = s.accept()
        conn.settimeout(10)
        data = conn.recv(4096)
        conn.sendall(keepalive + data[:0])
        conn.recv(4096)  # wait for the client's FIN
        conn.close()
    else:
        s.bind((local, 0))
        s.connect((peer, 179))
        s.sendall(keepalive)
        s.recv(4096)
        s.close()
    s.close()


if __name__ == "__main__":
    main()
