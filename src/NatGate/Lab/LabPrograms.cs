namespace NatGate.Lab;

/// <summary>Small python3 programs the demo and the end-to-end tests run as servers and clients in the lab.</summary>
internal static class LabPrograms
{
    /// <summary>
    /// Serves a directory over HTTP (argv: address port directory), prints "ready" once it listens
    /// and "client IP:PORT PATH" per request; a PUT (curl -T) is read whole and answered, and
    /// printed, as "received N sha256 HEX". Not `python3 -m http.server`: that one looks up its
    /// own name before listening, which from an inside host sends a query through the gateway.
    /// </summary>
    public const string WebServer = """
        import functools, hashlib, http.server, socket, socketserver, sys
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):
                print(f"client {self.client_address[0]}:{self.client_address[1]} {self.path}", flush=True)
            def do_PUT(self):
                remaining, digest = int(self.headers.get("Content-Length", "0")), hashlib.sha256()
                count = remaining
                while remaining > 0:
                    data = self.rfile.read(min(remaining, 1 << 16))
                    if not data:
                        break
                    digest.update(data)
                    remaining -= len(data)
                answer = f"received {count - remaining} sha256 {digest.hexdigest()}"
                print(answer, flush=True)
                self.send_response(201)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())
        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
            allow_reuse_address = True
            daemon_threads = True
        with Server((sys.argv[1], int(sys.argv[2])), functools.partial(Handler, directory=sys.argv[3])) as server:
            print("ready", flush=True)
            server.serve_forever()
        """;

    /// <summary>Echoes each datagram (up to 64 KiB, fragmented if it must be) with " from SENDER" appended (argv: address port); prints "ready".</summary>
    public const string UdpEcho = """
        import socket, sys
        s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        print("ready", flush=True)
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data + b" from " + peer[0].encode(), peer)
        """;

    /// <summary>Sends one datagram (three tries; argv: address port text) and prints the answer, or "timeout".</summary>
    public const string UdpClient = """
        import socket, sys
        s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.5)
        for attempt in range(3):
            s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
            try:
                print(s.recv(65535).decode(), flush=True)
                break
            except socket.timeout:
                pass
        else:
            print("timeout", flush=True)
        """;

    /// <summary>Accepts TCP connections (argv: address port), prints "ready", then "received N sha256 HEX" per connection.</summary>
    public const string HashSink = """
        import hashlib, socket, sys
        server = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2])))
        server.listen(8)
        print("ready", flush=True)
        while True:
            connection, peer = server.accept()
            digest, count = hashlib.sha256(), 0
            while True:
                data = connection.recv(1 << 20)
                if not data:
                    break
                digest.update(data)
                count += len(data)
            print(f"received {count} sha256 {digest.hexdigest()}", flush=True)
            connection.close()
        """;

    /// <summary>Sends a file over one TCP connection (argv: address port file) and closes it.</summary>
    public const string FileSender = """
        import socket, sys
        with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as s, open(sys.argv[3], "rb") as f:
            s.sendfile(f)
        """;
}
