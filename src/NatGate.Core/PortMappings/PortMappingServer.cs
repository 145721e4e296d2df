using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.PortMappings;

/// <summary>What to send back for one request: <paramref name="Length"/> bytes of the response (0: nothing), and whether the rules changed.</summary>
public readonly record struct PortMappingReply(int Length, bool RulesChanged);

/// <summary>
/// Answers PCP (RFC 6887, version 2) and NAT-PMP (RFC 6886, version 0) requests from inside hosts
/// on one port, against the engine's <see cref="NatEngine.PortMappings"/>. Never throws on bad
/// bytes: a request is answered with the result code its RFC asks for, or dropped where it says
/// so. A request from an address no map rule translates is dropped: nothing is answered to the
/// outside. Third-party requests (THIRD_PARTY, RFC 6887 13.1) are refused with NOT_AUTHORIZED:
/// a host maps only its own ports. Run on the engine's thread.
/// </summary>
public static class PortMappingServer
{
    /// <summary>Room for any response: a PCP response is at most 1100 octets.</summary>
    public const int MaximumResponseLength = PcpRequest.MaximumLength;

    /// <summary>How long a client should take an error that will not change by itself to last (RFC 6887 7.2: "long").</summary>
    public const uint LongErrorLifetimeSeconds = 1800;

    /// <summary>How long a client should take an error of the moment to last (RFC 6887 7.2: "short").</summary>
    public const uint ShortErrorLifetimeSeconds = 30;

    public static PortMappingReply Answer(NatEngine engine, ReadOnlySpan<byte> request, Ipv4Address client, Span<byte> response, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (response.Length < MaximumResponseLength)
        {
            throw new ArgumentException($"The response buffer must hold {MaximumResponseLength} bytes.", nameof(response));
        }
        if (request.IsEmpty || !IsInside(engine, client))
        {
            return default;
        }
        PortMappingTable table = engine.PortMappings;
        uint epoch = table.Epoch(nowTicks);
        return request[0] == NatPmpRequest.Version
            ? AnswerNatPmp(engine, request, client, response, epoch, nowTicks)
            : AnswerPcp(engine, request, client, response, epoch, nowTicks);
    }

    /// <summary>An inside host: one a map rule translates (the only ones with something outside to map).</summary>
    public static bool IsInside(NatEngine engine, Ipv4Address client)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return engine.TryFindExternalFor(client, IpProtocol.Udp, out _, out _, out _) || engine.TryFindExternalFor(client, IpProtocol.Tcp, out _, out _, out _);
    }

    private static PortMappingReply AnswerPcp(NatEngine engine, ReadOnlySpan<byte> bytes, Ipv4Address client, Span<byte> response, uint epoch, long nowTicks)
    {
        PcpParse parsed = PcpRequest.TryParse(bytes, out PcpRequest request, out PcpResultCode error);
        if (parsed == PcpParse.Drop)
        {
            return default;
        }
        if (parsed == PcpParse.Error)
        {
            return Error(bytes, error, 0, epoch, response);
        }
        if (request.HasThirdParty)
        {
            // Supported as an option, refused as a policy: a host maps its own ports (RFC 6887 13.1).
            return Error(bytes, PcpResultCode.NotAuthorized, 0, epoch, response);
        }
        if (request.HasFilter)
        {
            return Error(bytes, PcpResultCode.UnsupportedOption, 0, epoch, response);
        }
        if (request.ClientAddress != Ipv6Address.MapIpv4(client))
        {
            // A NAT between the client and this server, or a client that does not know its address (RFC 6887 8.3).
            return Error(bytes, PcpResultCode.AddressMismatch, 0, epoch, response);
        }
        switch (request.Opcode)
        {
            case PcpOpcode.Announce:
                return new PortMappingReply(PcpResponse.WriteSuccess(request, 0, epoch, 0, default, response), false);
            case PcpOpcode.Map:
                return Map(engine, request, client, response, epoch, nowTicks);
            default:
                return Peer(engine, request, client, response, epoch, nowTicks);
        }
    }

    private static PortMappingReply Map(NatEngine engine, in PcpRequest request, Ipv4Address client, Span<byte> response, uint epoch, long nowTicks)
    {
        Ipv6Address suggested = request.SuggestedExternalAddress;
        var ask = new PortMappingAsk(request.Protocol, client, request.InternalPort, request.SuggestedExternalPort,
            suggested.IsIpv4Mapped ? suggested.MappedIpv4 : Ipv4Address.Any, request.RequestedLifetime,
            Convert.ToHexStringLower(request.Nonce), request.PreferFailure, PortMappingClient.Pcp);
        PortMappingAnswer answer = engine.PortMappings.Map(engine, ask, nowTicks);
        if (answer.Result != PcpResultCode.Success)
        {
            return Error(request.Bytes, answer.Result, answer.LifetimeSeconds, epoch, response) with { RulesChanged = answer.RulesChanged };
        }
        bool assigned = answer.ExternalAddress != Ipv4Address.Any;
        int length = PcpResponse.WriteSuccess(request, answer.LifetimeSeconds, epoch,
            assigned ? answer.ExternalPort : request.SuggestedExternalPort,
            assigned ? Ipv6Address.MapIpv4(answer.ExternalAddress) : request.SuggestedExternalAddress, response);
        return new PortMappingReply(length, answer.RulesChanged);
    }

    private static PortMappingReply Peer(NatEngine engine, in PcpRequest request, Ipv4Address client, Span<byte> response, uint epoch, long nowTicks)
    {
        if (request.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            return Error(request.Bytes, PcpResultCode.UnsupportedProtocol, 0, epoch, response);
        }
        Ipv6Address peer = request.RemotePeerAddress;
        if (request.InternalPort == 0 || request.RemotePeerPort == 0 || !peer.IsIpv4Mapped || peer.MappedIpv4 == Ipv4Address.Any)
        {
            // PEER names one flow: both ports, and a peer of the client's family (RFC 6887 12.1).
            return Error(request.Bytes, PcpResultCode.MalformedRequest, 0, epoch, response);
        }
        PcpResultCode result = engine.Peer(request.Protocol, client, request.InternalPort, peer.MappedIpv4, request.RemotePeerPort,
            request.SuggestedExternalPort, nowTicks, out Ipv4Address external, out ushort externalPort, out uint lifetime);
        if (result != PcpResultCode.Success)
        {
            return Error(request.Bytes, result, 0, epoch, response);
        }
        return new PortMappingReply(PcpResponse.WriteSuccess(request, lifetime, epoch, externalPort, Ipv6Address.MapIpv4(external), response), false);
    }

    private static PortMappingReply Error(ReadOnlySpan<byte> request, PcpResultCode result, uint lifetime, uint epoch, Span<byte> response)
        => new(PcpResponse.WriteError(request, result, lifetime != 0 ? lifetime : ErrorLifetime(result), epoch, response), false);

    /// <summary>RFC 6887 7.2: errors of the moment are short-lived, errors of the request or the policy long-lived.</summary>
    public static uint ErrorLifetime(PcpResultCode result) => result is PcpResultCode.NetworkFailure or PcpResultCode.NoResources
        or PcpResultCode.UserExceededQuota or PcpResultCode.CannotProvideExternal or PcpResultCode.ExcessiveRemotePeers
        ? ShortErrorLifetimeSeconds : LongErrorLifetimeSeconds;

    private static PortMappingReply AnswerNatPmp(NatEngine engine, ReadOnlySpan<byte> bytes, Ipv4Address client, Span<byte> response, uint epoch, long nowTicks)
    {
        if (!NatPmpRequest.TryParse(bytes, out NatPmpRequest request))
        {
            return default;
        }
        if (request.Opcode == NatPmpOpcode.ExternalAddress)
        {
            bool found = engine.TryFindExternalFor(client, IpProtocol.Udp, out Ipv4Address external, out _, out _)
                || engine.TryFindExternalFor(client, IpProtocol.Tcp, out external, out _, out _);
            return new PortMappingReply(NatPmpResponse.WriteExternalAddress(found ? NatPmpResultCode.Success : NatPmpResultCode.NetworkFailure, epoch, external, response), false);
        }
        if (!request.IsMapping)
        {
            return new PortMappingReply(NatPmpResponse.WriteUnsupportedOpcode((byte)request.Opcode, epoch, response), false);
        }
        IpProtocol protocol = request.Opcode == NatPmpOpcode.MapTcp ? IpProtocol.Tcp : IpProtocol.Udp;
        var ask = new PortMappingAsk(protocol, client, request.InternalPort, request.SuggestedExternalPort, Ipv4Address.Any,
            request.RequestedLifetime, PortMapping.NoNonce, PreferFailure: false, PortMappingClient.NatPmp);
        PortMappingAnswer answer = engine.PortMappings.Map(engine, ask, nowTicks);
        NatPmpResultCode result = answer.Result switch
        {
            PcpResultCode.Success => NatPmpResultCode.Success,
            PcpResultCode.NotAuthorized or PcpResultCode.UnsupportedProtocol => NatPmpResultCode.NotAuthorized,
            PcpResultCode.NetworkFailure => NatPmpResultCode.NetworkFailure,
            _ => NatPmpResultCode.OutOfResources,
        };
        // A deletion answers with external port and lifetime 0 (RFC 6886 3.4), as does a refusal.
        bool mapped = result == NatPmpResultCode.Success && request.RequestedLifetime != 0;
        int length = NatPmpResponse.WriteMapping(request.Opcode, result, epoch, request.InternalPort,
            mapped ? answer.ExternalPort : (ushort)0, mapped ? answer.LifetimeSeconds : 0, response);
        return new PortMappingReply(length, answer.RulesChanged);
    }

    /// <summary>
    /// The unsolicited announcements of a (re)started server, sent to 224.0.0.1 port 5350: PCP's
    /// ANNOUNCE (RFC 6887 14.1.1) and NAT-PMP's external address (RFC 6886 3.2.1), epoch 0, so that
    /// clients that held mappings map again. Returns the two datagrams.
    /// </summary>
    public static (byte[] Pcp, byte[] NatPmp) Announcements(Ipv4Address external, uint epoch)
    {
        byte[] pcp = new byte[PcpRequest.HeaderLength];
        PcpResponse.WriteAnnounce(epoch, pcp);
        byte[] natPmp = new byte[12];
        NatPmpResponse.WriteExternalAddress(NatPmpResultCode.Success, epoch, external, natPmp);
        return (pcp, natPmp);
    }

    /// <summary>The address a NAT-PMP client would be told for <paramref name="client"/>; <see cref="Ipv4Address.Any"/> when none.</summary>
    public static Ipv4Address ExternalAddressOf(NatEngine engine, Ipv4Address client)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return engine.TryFindExternalFor(client, IpProtocol.Udp, out Ipv4Address external, out PortRange _, out NatRule? _) ? external : Ipv4Address.Any;
    }
}
