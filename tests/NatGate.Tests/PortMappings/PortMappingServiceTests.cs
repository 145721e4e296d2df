using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using NatGate.Core.Addressing;
using NatGate.Core.PortMappings;
using NatGate.Core.Translation;
using NatGate.Daemon;
using NatGate.PortMappings;

namespace NatGate.Tests.PortMappings;

/// <summary>The daemon's PCP and NAT-PMP server on real sockets (loopback standing in for an inside address), without root.</summary>
public sealed class PortMappingServiceTests
{
    private static byte[] NatPmpMap(ushort internalPort, uint lifetime)
    {
        byte[] request = new byte[12];
        request[1] = 1; // UDP
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), internalPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), lifetime);
        return request;
    }

    private static byte[] Exchange(UdpClient client, byte[] request, IPEndPoint server)
    {
        client.Send(request, server);
        IPEndPoint? from = null;
        byte[] response = client.Receive(ref from);
        Assert.Equal(server, from);
        return response;
    }

    [Fact]
    public async Task It_answers_on_the_inside_addresses_only_and_the_routing_follows_each_mapping()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7 }, DateTimeOffset.UtcNow.UtcTicks);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("127.0.0.0/8"), Ipv4Address.Parse("198.51.100.10")));
        var controller = new GatewayController(engine, TimeProvider.System);
        int followed = 0;
        controller.RulesChanged = () => Interlocked.Increment(ref followed);
        await using PortMappingService service = PortMappingService.Start(controller, new PortMappingLimits { MaximumPerHost = 1 }, NullLoggerFactory.Instance,
            TimeProvider.System, port: 0, hostAddresses: () => [Ipv4Address.Parse("127.0.0.1"), Ipv4Address.Parse("192.0.2.1")]);

        // 192.0.2.1 is no map rule's inside: nothing listens there.
        IPEndPoint server = Assert.Single(service.Endpoints);
        Assert.Equal(IPAddress.Loopback, server.Address);
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        client.Client.ReceiveTimeout = 5000;

        byte[] address = Exchange(client, [0, 0], server);
        Assert.Equal("00800000", Convert.ToHexString(address, 0, 4));
        Assert.Equal("C633640A", Convert.ToHexString(address, 8, 4));

        byte[] mapped = Exchange(client, NatPmpMap(5000, 3600), server);
        Assert.Equal("00810000", Convert.ToHexString(mapped, 0, 4));
        Assert.Equal(5000, BinaryPrimitives.ReadUInt16BigEndian(mapped.AsSpan(10)));
        // The routing followed before the answer left.
        int afterMapping = Volatile.Read(ref followed);
        Assert.True(afterMapping >= 1);
        Assert.Single(controller.Run(engine => engine.PortMappings.List()));

        // The host's limit is one: the second is out of resources (4).
        byte[] refused = Exchange(client, NatPmpMap(5001, 3600), server);
        Assert.Equal(4, BinaryPrimitives.ReadUInt16BigEndian(refused.AsSpan(2)));
        Assert.Single(controller.Run(engine => engine.PortMappings.List()));

        // Deleted: the routing follows again before the answer.
        Exchange(client, NatPmpMap(5000, 0), server);
        Assert.True(Volatile.Read(ref followed) > afterMapping);
        Assert.Empty(controller.Run(engine => engine.PortMappings.List()));
    }
}
