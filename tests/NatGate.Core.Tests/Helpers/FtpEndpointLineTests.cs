using System.Text;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Helpers.Ftp;

namespace NatGate.Core.Tests.Helpers;

public sealed class FtpEndpointLineTests
{
    private static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text);

    private static string Rewrite(string line, bool fromClient, string address, ushort port)
    {
        byte[] bytes = Bytes(line);
        Assert.True(FtpEndpointLine.TryParse(bytes, fromClient, out FtpEndpointLine parsed), line);
        var text = new byte[FtpEndpointLine.MaximumTextLength];
        int length = parsed.FormatText(Ipv4Address.Parse(address), port, text);
        return Encoding.ASCII.GetString(bytes[..parsed.TextStart]) + Encoding.ASCII.GetString(text, 0, length)
            + Encoding.ASCII.GetString(bytes[(parsed.TextStart + parsed.TextLength)..]);
    }

    [Theory]
    [InlineData("PORT 10,0,0,2,195,80\r\n", "10.0.0.2", 50000)]
    [InlineData("port 10,0,0,2,0,21\r\n", "10.0.0.2", 21)]
    [InlineData("PORT 192,168,255,254,255,255\n", "192.168.255.254", 65535)]
    public void A_port_command_is_read(string line, string address, int port)
    {
        Assert.True(FtpEndpointLine.TryParse(Bytes(line), fromClient: true, out FtpEndpointLine parsed));
        Assert.Equal(FtpEndpointKind.Port, parsed.Kind);
        Assert.Equal(Ipv4Address.Parse(address), parsed.Address);
        Assert.Equal(port, parsed.Port);
    }

    [Fact]
    public void A_port_command_is_rewritten_in_its_own_form_and_keeps_the_rest_of_the_line()
    {
        Assert.Equal("PORT 198,51,100,10,4,210\r\n", Rewrite("PORT 10,0,0,2,195,80\r\n", true, "198.51.100.10", 1234));
        Assert.Equal("EPRT |1|198.51.100.10|1234|\r\n", Rewrite("EPRT |1|10.0.0.2|50000|\r\n", true, "198.51.100.10", 1234));
        Assert.Equal("EPRT !1!198.51.100.10!1234!\r\n", Rewrite("EPRT !1!10.0.0.2!50000!\r\n", true, "198.51.100.10", 1234));
        Assert.Equal("227 Entering Passive Mode (198,51,100,10,4,210).\r\n",
            Rewrite("227 Entering Passive Mode (10,0,0,3,200,1).\r\n", false, "198.51.100.10", 1234));
        Assert.Equal("227 =198,51,100,10,4,210\r\n", Rewrite("227 =10,0,0,3,200,1\r\n", false, "198.51.100.10", 1234));
        Assert.Equal("229 Entering Extended Passive Mode (|||1234|)\r\n",
            Rewrite("229 Entering Extended Passive Mode (|||51201|)\r\n", false, "198.51.100.10", 1234));
    }

    [Fact]
    public void Replies_and_commands_are_read_only_from_their_own_side()
    {
        Assert.False(FtpEndpointLine.TryParse(Bytes("PORT 10,0,0,2,195,80\r\n"), fromClient: false, out _));
        Assert.False(FtpEndpointLine.TryParse(Bytes("227 Entering Passive Mode (10,0,0,3,200,1).\r\n"), fromClient: true, out _));
    }

    [Theory]
    [InlineData("PORT 10,0,0,2,195,80")]               // no line end: not whole yet
    [InlineData("PORT 10,0,0,256,195,80\r\n")]         // a number past 255
    [InlineData("PORT 10,0,0,2,195\r\n")]              // five numbers
    [InlineData("PORT 10,0,0,2,195,8000\r\n")]         // four digits
    [InlineData("PORTS 10,0,0,2,195,80\r\n")]
    [InlineData("PASV\r\n")]
    [InlineData("EPRT |2|fd00::2|50000|\r\n")]         // IPv6: left alone
    [InlineData("EPRT |1|10.0.0.2|65536|\r\n")]
    [InlineData("EPRT |1|10.0.0.2|50000\r\n")]         // no closing delimiter
    [InlineData("EPRT |1|010.0.0.2|50000|\r\n")]       // a leading zero, read as octal by some
    [InlineData("EPRT  1 10.0.0.2 50000 \r\n")]        // a space is no delimiter (RFC 2428: 33 to 126)
    public void Malformed_or_other_client_lines_are_not_read(string line)
        => Assert.False(FtpEndpointLine.TryParse(Bytes(line), fromClient: true, out _));

    [Theory]
    [InlineData("227 Entering Passive Mode\r\n")]
    [InlineData("229 Entering Extended Passive Mode (||51201|)\r\n")]
    [InlineData("229 Entering Extended Passive Mode (|||70000|)\r\n")]
    [InlineData("229 Entering Extended Passive Mode (|||51201)\r\n")]
    [InlineData("230 Login successful.\r\n")]
    [InlineData("226 Transfer complete 10,0,0,3,200,1\r\n")]
    public void Malformed_or_other_server_lines_are_not_read(string line)
        => Assert.False(FtpEndpointLine.TryParse(Bytes(line), fromClient: false, out _));

    [Fact]
    public void The_longest_replacement_fits_the_declared_maximum()
    {
        Assert.True(FtpEndpointLine.TryParse(Bytes("PORT 1,1,1,1,1,1\r\n"), true, out FtpEndpointLine port));
        var text = new byte[FtpEndpointLine.MaximumTextLength];
        Assert.Equal(FtpEndpointLine.MaximumTextLength, port.FormatText(Ipv4Address.Parse("255.255.255.255"), 65535, text));
        Assert.True(FtpEndpointLine.TryParse(Bytes("EPRT |1|1.1.1.1|1|\r\n"), true, out FtpEndpointLine extended));
        Assert.Equal("255.255.255.255|65535".Length, extended.FormatText(Ipv4Address.Parse("255.255.255.255"), 65535, text));
    }

    [Fact]
    public void Any_endpoint_written_into_a_line_reads_back_as_written()
    {
        Gen.Select(Gen.UInt, Gen.UShort, Gen.Int[0, 3]).Sample((address, port, kind) =>
        {
            string line = kind switch
            {
                0 => "PORT 1,2,3,4,5,6\r\n",
                1 => "EPRT |1|1.2.3.4|5|\r\n",
                2 => "227 Entering Passive Mode (1,2,3,4,5,6).\r\n",
                _ => "229 Entering Extended Passive Mode (|||5|)\r\n",
            };
            bool fromClient = kind < 2;
            string rewritten = Rewrite(line, fromClient, new Ipv4Address(address).ToString(), port);
            Assert.True(FtpEndpointLine.TryParse(Bytes(rewritten), fromClient, out FtpEndpointLine parsed), rewritten);
            Assert.Equal(port, parsed.Port);
            Assert.Equal(kind == 3 ? Ipv4Address.Any : new Ipv4Address(address), parsed.Address);
            Assert.InRange(parsed.TextLength, 1, parsed.MaximumReplacementLength);
        });
    }

    [Fact]
    public void Random_lines_never_throw_and_a_line_read_from_them_names_text_inside_it()
    {
        // Near misses: a command or code, then digits, separators and stray bytes, then a line end.
        Gen<byte> body = Gen.OneOf(Gen.Byte, Gen.OneOf("0123456789,|().!1 ".Select(character => (byte)character).ToArray()));
        Gen<byte[]> lines = Gen.Select(Gen.OneOf("PORT ", "port ", "EPRT ", "227 ", "229 ", "229-", ""), body.Array[0, 40], Gen.OneOf("\r\n", "\n", ""),
            (start, middle, end) => (byte[])[.. Encoding.ASCII.GetBytes(start), .. middle, .. Encoding.ASCII.GetBytes(end)]);
        Gen.Select(lines, Gen.Bool).Sample((bytes, fromClient) =>
        {
            if (FtpEndpointLine.TryParse(bytes, fromClient, out FtpEndpointLine parsed))
            {
                Assert.InRange(parsed.TextStart, 0, bytes.Length);
                Assert.InRange(parsed.TextStart + parsed.TextLength, parsed.TextStart + 1, bytes.Length - 1);
            }
        });
    }
}
