namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// The fast path tests' endpoints, a python3 script FastPathLab writes into its directory and
/// runs in the lab's namespaces (kept here, beside the tests, rather than as a copied file).
/// </summary>
internal static class TrafficScript
{
    public const string Text = """"
#!/usr/bin/env python3
"""The fast path tests' endpoints, run in the lab's namespaces (FastPathLab). Each prints what it
saw on standard output, one fact a line, and exits non-zero when something did not arrive.

  udp-server BIND PORT COUNT          echo COUNT datagrams; print "from ADDRESS PORT LENGTH" each
  udp-client BIND BPORT DEST DPORT COUNT SIZE [noreply]
                                      send COUNT datagrams of SIZE bytes, each answered by the same bytes
  tcp-server BIND PORT DOWNFILE       accept one connection; print "peer ..." and the sha256 of what
                                      arrived until EOF, then send DOWNFILE
  tcp-client BIND BPORT DEST DPORT UPFILE [tryonly]
                                      send UPFILE, half-close, print the sha256 of what comes back
"""
import hashlib
import socket
import sys


def family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def udp_server(bind, port, count):
    with socket.socket(family(bind), socket.SOCK_DGRAM) as s:
        s.bind((bind, int(port)))
        s.settimeout(10)
        print("ready", flush=True)
        for _ in range(int(count)):
            data, peer = s.recvfrom(65535)
            print(f"from {peer[0]} {peer[1]} {len(data)}", flush=True)
            try:
                s.sendto(data, peer)
            except OSError as error:  # an untranslated source: the outside host has no route back
                print(f"no answer {error.errno}", flush=True)


def udp_client(bind, bport, dest, dport, count, size, *options):
    with socket.socket(family(bind), socket.SOCK_DGRAM) as s:
        s.bind((bind, int(bport)))
        s.settimeout(3)
        for index in range(int(count)):
            payload = bytes((index + offset) % 251 for offset in range(int(size)))
            s.sendto(payload, (dest, int(dport)))
            if "noreply" in options:
                continue
            data, peer = s.recvfrom(65535)
            if data != payload:
                sys.exit(f"datagram {index}: the answer differs")
            print(f"answer {peer[0]} {peer[1]} {len(data)}", flush=True)


def tcp_server(bind, port, downfile):
    with socket.socket(family(bind), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((bind, int(port)))
        s.listen(1)
        s.settimeout(20)
        print("ready", flush=True)
        connection, peer = s.accept()
        with connection:
            connection.settimeout(20)
            print(f"peer {peer[0]} {peer[1]}", flush=True)
            digest = hashlib.sha256()
            while True:
                chunk = connection.recv(1 << 16)
                if not chunk:
                    break
                digest.update(chunk)
            print(f"received {digest.hexdigest()}", flush=True)
            with open(downfile, "rb") as down:
                connection.sendall(down.read())


def tcp_client(bind, bport, dest, dport, upfile, *options):
    with socket.socket(family(bind), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((bind, int(bport)))
        s.settimeout(1 if "tryonly" in options else 20)
        try:
            s.connect((dest, int(dport)))
        except OSError as error:
            if "tryonly" in options:
                print(f"not connected {error}", flush=True)
                return
            raise
        with open(upfile, "rb") as up:
            s.sendall(up.read())
        s.shutdown(socket.SHUT_WR)
        digest = hashlib.sha256()
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            digest.update(chunk)
        print(f"received {digest.hexdigest()}", flush=True)


if __name__ == "__main__":
    {"udp-server": udp_server, "udp-client": udp_client, "tcp-server": tcp_server, "tcp-client": tcp_client}[sys.argv[1]](*sys.argv[2:])
"""";
}
