using NatGate.Core.Addressing;
using NatGate.Core.PortMappings;

namespace NatGate.Core.Tests.PortMappings;

public sealed class NatPmpMessageTests
{
    [Fact]
    public void A_mapping_request_is_read_where_rfc_6886_puts_its_fields()
    {
        // Version 0, opcode 2 (TCP), reserved, internal 8080, suggested 9090, lifetime 7200 (RFC 6886 3.3).
        byte[] bytes = Convert.FromHexString("0002" + "0000" + "1F90" + "2382" + "00001C20");
        Assert.True(NatPmpRequest.TryParse(bytes, out NatPmpRequest request));
        Assert.Equal(NatPmpOpcode.MapTcp, request.Opcode);
        Assert.True(request.IsMapping);
        Assert.Equal(8080, request.InternalPort);
        Assert.Equal(9090, request.SuggestedExternalPort);
        Assert.Equal(7200u, request.RequestedLifetime);
    }

    [Theory]
    [InlineData("00")] // no opcode
    [InlineData("0001000013881388")] // a UDP mapping request cut short
    [InlineData("0080")] // a response (opcode 128 and up)
    [InlineData("0100")] // not version 0
    public void A_short_request_or_a_response_is_dropped(string hex)
    {
        Assert.False(NatPmpRequest.TryParse(Convert.FromHexString(hex), out _));
    }

    [Fact]
    public void An_unknown_opcode_parses_so_it_can_be_refused()
    {
        Assert.True(NatPmpRequest.TryParse(Convert.FromHexString("0007"), out NatPmpRequest request));
        Assert.False(request.IsMapping);
        byte[] response = new byte[16];
        int length = NatPmpResponse.WriteUnsupportedOpcode(7, 99, response);
        Assert.Equal("0087" + "0005" + "00000063", Convert.ToHexString(response, 0, length));
    }

    [Fact]
    public void The_responses_are_written_as_rfc_6886_lays_them_out()
    {
        byte[] response = new byte[16];
        int length = NatPmpResponse.WriteExternalAddress(NatPmpResultCode.Success, 300, Ipv4Address.Parse("198.51.100.10"), response);
        Assert.Equal("0080" + "0000" + "0000012C" + "C633640A", Convert.ToHexString(response, 0, length));
        length = NatPmpResponse.WriteMapping(NatPmpOpcode.MapUdp, NatPmpResultCode.OutOfResources, 300, 5000, 0, 0, response);
        Assert.Equal("0081" + "0004" + "0000012C" + "1388" + "0000" + "00000000", Convert.ToHexString(response, 0, length));
    }
}
