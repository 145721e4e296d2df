using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.PortMappings;

namespace NatGate.Core.Tests.PortMappings;

public sealed class PcpMessageTests
{
    private static readonly Ipv4Address Client = Ipv4Address.Parse("10.0.0.2");

    // RFC 6887 7.1 and 11.1, written out: version 2, opcode 1 (MAP), lifetime 3600, client
    // ::ffff:10.0.0.2; nonce 01..0c, protocol 17, internal port 5000, suggested 6000 at ::ffff:198.51.100.10.
    private const string MapVector =
        "02010000" + "00000E10" + "00000000000000000000FFFF0A000002"
        + "0102030405060708090A0B0C" + "11000000" + "1388" + "1770" + "00000000000000000000FFFFC633640A";

    [Fact]
    public void A_map_request_is_read_where_rfc_6887_puts_its_fields()
    {
        byte[] bytes = Convert.FromHexString(MapVector);
        Assert.Equal(PcpParse.Valid, PcpRequest.TryParse(bytes, out PcpRequest request, out _));
        Assert.Equal(PcpOpcode.Map, request.Opcode);
        Assert.Equal(3600u, request.RequestedLifetime);
        Assert.Equal(Ipv6Address.MapIpv4(Client), request.ClientAddress);
        Assert.Equal("0102030405060708090A0B0C", Convert.ToHexString(request.Nonce));
        Assert.Equal(IpProtocol.Udp, request.Protocol);
        Assert.Equal(5000, request.InternalPort);
        Assert.Equal(6000, request.SuggestedExternalPort);
        Assert.Equal(Ipv6Address.MapIpv4(Ipv4Address.Parse("198.51.100.10")), request.SuggestedExternalAddress);
        Assert.False(request.PreferFailure);
    }

    [Fact]
    public void A_peer_request_reads_its_remote_peer()
    {
        byte[] bytes = PcpBytes.Peer(Client, IpProtocol.Tcp, 4000, 600, Ipv4Address.Parse("203.0.113.5"), 443);
        Assert.Equal(PcpParse.Valid, PcpRequest.TryParse(bytes, out PcpRequest request, out _));
        Assert.Equal(PcpOpcode.Peer, request.Opcode);
        Assert.Equal(443, request.RemotePeerPort);
        Assert.Equal(Ipv6Address.MapIpv4(Ipv4Address.Parse("203.0.113.5")), request.RemotePeerAddress);
    }

    [Theory]
    [InlineData("")]
    [InlineData("02")]
    [InlineData("0281000000000000")] // the R bit: a response, never answered (RFC 6887 8.3)
    public void Too_short_or_a_response_is_dropped_silently(string hex)
    {
        Assert.Equal(PcpParse.Drop, PcpRequest.TryParse(Convert.FromHexString(hex), out _, out _));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(255)]
    public void Another_version_is_answered_unsupp_version_with_the_header_alone_in_version_2(byte version)
    {
        byte[] bytes = Convert.FromHexString(MapVector);
        bytes[0] = version;
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(PcpResultCode.UnsupportedVersion, error);
        byte[] response = new byte[1100];
        int length = PcpResponse.WriteError(bytes, error, 1800, 7, response);
        Assert.Equal(24, length);
        Assert.Equal("02810001" + "00000708" + "00000007" + new string('0', 24), Convert.ToHexString(response, 0, length));
    }

    [Theory]
    [InlineData(62)] // not a multiple of 4
    [InlineData(20)] // shorter than the header
    [InlineData(40)] // too short for MAP's 36 octets
    [InlineData(1104)] // longer than 1100
    public void A_request_of_the_wrong_length_is_malformed(int length)
    {
        byte[] bytes = new byte[length];
        Convert.FromHexString(MapVector).AsSpan(0, Math.Min(length, 60)).CopyTo(bytes);
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(PcpResultCode.MalformedRequest, error);
    }

    [Fact]
    public void An_unknown_opcode_is_unsupp_opcode()
    {
        byte[] bytes = Convert.FromHexString(MapVector);
        bytes[1] = 9;
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(PcpResultCode.UnsupportedOpcode, error);
    }

    public static TheoryData<byte[], PcpResultCode> BadOptions => new()
    {
        { [5, 0, 0, 0], PcpResultCode.UnsupportedOption }, // mandatory (under 128) and unknown
        { [2, 0, 0, 4, 0, 0, 0, 0], PcpResultCode.MalformedOption }, // PREFER_FAILURE carries no data
        { [2, 0, 0, 0, 2, 0, 0, 0], PcpResultCode.MalformedOption }, // PREFER_FAILURE twice
        { [1, 0, 0, 16, 0, 0, 0, 0], PcpResultCode.MalformedOption }, // THIRD_PARTY cut short
        { [200, 0, 0, 8, 0, 0, 0, 0], PcpResultCode.MalformedOption }, // longer than what is left
        { [200, 0, 0], PcpResultCode.MalformedRequest }, // the whole request is no multiple of 4
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void A_bad_option_gets_its_result_code(byte[] option, PcpResultCode expected)
    {
        byte[] bytes = [.. Convert.FromHexString(MapVector), .. option];
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void An_unknown_optional_option_is_ignored_and_prefer_failure_is_seen()
    {
        byte[] bytes = [.. Convert.FromHexString(MapVector), 200, 0, 0, 3, 1, 2, 3, 0, .. PcpBytes.PreferFailure()];
        Assert.Equal(PcpParse.Valid, PcpRequest.TryParse(bytes, out PcpRequest request, out _));
        Assert.True(request.PreferFailure);
        Assert.False(request.HasThirdParty);
    }

    [Fact]
    public void Prefer_failure_in_a_peer_request_is_malformed()
    {
        byte[] bytes = PcpBytes.Peer(Client, IpProtocol.Udp, 4000, 600, Ipv4Address.Parse("203.0.113.5"), 53, options: PcpBytes.PreferFailure());
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(PcpResultCode.MalformedOption, error);
    }

    [Fact]
    public void All_protocols_with_a_port_is_malformed()
    {
        byte[] bytes = PcpBytes.Map(Client, 0, 5000, 600);
        Assert.Equal(PcpParse.Error, PcpRequest.TryParse(bytes, out _, out PcpResultCode error));
        Assert.Equal(PcpResultCode.MalformedRequest, error);
    }

    [Fact]
    public void A_success_response_carries_the_request_with_the_assignment()
    {
        byte[] bytes = [.. Convert.FromHexString(MapVector), .. PcpBytes.PreferFailure()];
        Assert.Equal(PcpParse.Valid, PcpRequest.TryParse(bytes, out PcpRequest request, out _));
        byte[] response = new byte[1100];
        int length = PcpResponse.WriteSuccess(request, 7200, 42, 6001, Ipv6Address.MapIpv4(Ipv4Address.Parse("198.51.100.10")), response);
        Assert.Equal(
            "02810000" + "00001C20" + "0000002A" + new string('0', 24)
            + "0102030405060708090A0B0C" + "11000000" + "1388" + "1771" + "00000000000000000000FFFFC633640A"
            + "02000000",
            Convert.ToHexString(response, 0, length));
    }

    [Fact]
    public void An_error_response_copies_the_request_up_to_1100_octets_with_its_header_turned()
    {
        byte[] bytes = new byte[1200];
        Convert.FromHexString(MapVector).CopyTo(bytes, 0);
        bytes[1199] = 0xEE;
        byte[] response = new byte[1100];
        int length = PcpResponse.WriteError(bytes, PcpResultCode.MalformedRequest, 1800, 5, response);
        Assert.Equal(1100, length);
        Assert.Equal("02810003" + "00000708" + "00000005" + new string('0', 24), Convert.ToHexString(response, 0, 24));
        Assert.Equal(Convert.ToHexString(bytes, 24, 1076), Convert.ToHexString(response, 24, 1076));
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(6887);
        byte[] response = new byte[1100];
        int answered = 0;
        for (int i = 0; i < 20000; i++)
        {
            byte[] bytes = new byte[i % 2 == 0 ? random.Next(0, 140) : random.Next(0, 35) * 4];
            random.NextBytes(bytes);
            if (bytes.Length > 0)
            {
                bytes[0] = 2; // mostly PCP, so the parser gets past the version
            }
            PcpParse parsed = PcpRequest.TryParse(bytes, out PcpRequest request, out PcpResultCode error);
            if (parsed == PcpParse.Error)
            {
                Assert.InRange(PcpResponse.WriteError(bytes, error, 30, 0, response), 24, 1100);
                answered++;
            }
            else if (parsed == PcpParse.Valid)
            {
                Assert.InRange(PcpResponse.WriteSuccess(request, 30, 0, 1, default, response), 24, 1100);
            }
        }
        Assert.True(answered > 0);
    }
}
