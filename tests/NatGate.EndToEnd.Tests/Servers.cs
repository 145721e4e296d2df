namespace NatGate.EndToEnd.Tests;

/// <summary>Small python3 programs the tests run as servers and clients inside the lab.</summary>
internal static class Servers
{
    /// <summary>
    /// Serves a directory over HTTP and logs each client's address: argv address port directory.
    /// Unlike `python3 -m http.server` it does no name lookup before listening.
    /// </summary>
    public const string Http = """
        import functools, http.server, socketserver, sys
        socketserver.TCPServer.allow_reuse_address = True
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):
                print("client " + self.client_address[0] + " " + (format % args), flush=True)
        handler = functools.partial(Handler, directory=sys.argv[3])
        with socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), handler) as server:
            print("ready", flush=True)
            server.serve_forever()
        """;
}
