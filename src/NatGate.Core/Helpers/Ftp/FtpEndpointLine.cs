using System.Buffers.Text;
using System.Text;
using NatGate.Core.Addressing;

namespace NatGate.Core.Helpers.Ftp;

/// <summary>The FTP control lines that carry a data connection's endpoint.</summary>
internal enum FtpEndpointKind : byte
{
    None,

    /// <summary>"PORT h1,h2,h3,h4,p1,p2" from the client (RFC 959 section 4.1.2).</summary>
    Port,

    /// <summary>"EPRT |1|a.b.c.d|port|" from the client (RFC 2428 section 2); only network protocol 1, IPv4.</summary>
    ExtendedPort,

    /// <summary>"227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" from the server (RFC 959 section 4.2.2).</summary>
    PassiveReply,

    /// <summary>"229 Entering Extended Passive Mode (|||port|)" from the server (RFC 2428 section 3): a port alone.</summary>
    ExtendedPassiveReply,
}

/// <summary>
/// One control line that carries a data endpoint, parsed: what it is, the address and port it
/// names (<see cref="Address"/> is <see cref="Ipv4Address.Any"/> for a 229, which names none), and
/// where in the line the endpoint's text sits, so a rewrite replaces that text and keeps the rest
/// of the line byte for byte. A line is whole: it ends with its line feed.
/// </summary>
internal readonly record struct FtpEndpointLine(FtpEndpointKind Kind, Ipv4Address Address, ushort Port, int TextStart, int TextLength, byte Delimiter)
{
    /// <summary>The longest replacement text of any line: "255,255,255,255,255,255".</summary>
    public const int MaximumTextLength = 23;

    /// <summary>The longest replacement text of this line's kind, what a rewrite may need room for.</summary>
    public int MaximumReplacementLength => Kind switch
    {
        FtpEndpointKind.Port or FtpEndpointKind.PassiveReply => MaximumTextLength,
        FtpEndpointKind.ExtendedPort => "255.255.255.255|65535".Length,
        _ => "65535".Length,
    };

    /// <summary>
    /// Parses <paramref name="line"/> (one whole line, with its "\n") as a client's PORT or EPRT
    /// (<paramref name="fromClient"/>) or a server's 227 or 229; false for any other line and for
    /// a malformed one (numbers out of range, a missing delimiter), which is then left alone.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> line, bool fromClient, out FtpEndpointLine parsed)
    {
        parsed = default;
        if (line.Length < 5 || line[^1] != (byte)'\n')
        {
            return false;
        }
        if (fromClient)
        {
            // RFC 959 section 5.3.1: commands are case-insensitive, followed by one space.
            if (StartsWithCommand(line, "PORT "u8))
            {
                return TryParseSixNumbers(line, 5, FtpEndpointKind.Port, out parsed);
            }
            return StartsWithCommand(line, "EPRT "u8) && TryParseExtendedPort(line, out parsed);
        }
        if (line.StartsWith("227 "u8) || line.StartsWith("227-"u8))
        {
            // RFC 959 leaves the reply's text free; as conntrack's nf_conntrack_ftp, take the first
            // six numbers after the code (most servers wrap them in parentheses, some do not).
            int first = line[4..].IndexOfAnyInRange((byte)'0', (byte)'9');
            return first >= 0 && TryParseSixNumbers(line, 4 + first, FtpEndpointKind.PassiveReply, out parsed);
        }
        return (line.StartsWith("229 "u8) || line.StartsWith("229-"u8)) && TryParseExtendedPassive(line, out parsed);
    }

    /// <summary>
    /// Writes the endpoint text that replaces <see cref="TextLength"/> bytes at <see cref="TextStart"/>,
    /// naming <paramref name="address"/> and <paramref name="port"/> in this line's own form
    /// (a 229 takes the port alone). Returns the bytes written.
    /// </summary>
    public int FormatText(Ipv4Address address, ushort port, Span<byte> destination)
    {
        int written = 0;
        switch (Kind)
        {
            case FtpEndpointKind.Port or FtpEndpointKind.PassiveReply:
                for (int shift = 24; shift >= 0; shift -= 8)
                {
                    written += WriteNumber((byte)(address.Value >> shift), destination[written..]);
                    destination[written++] = (byte)',';
                }
                written += WriteNumber(port >> 8, destination[written..]);
                destination[written++] = (byte)',';
                written += WriteNumber(port & 0xFF, destination[written..]);
                break;
            case FtpEndpointKind.ExtendedPort:
                Span<char> text = stackalloc char[Ipv4Address.MaximumFormattedLength];
                address.TryFormat(text, out int length);
                written += Encoding.ASCII.GetBytes(text[..length], destination);
                destination[written++] = Delimiter;
                written += WriteNumber(port, destination[written..]);
                break;
            case FtpEndpointKind.ExtendedPassiveReply:
                written += WriteNumber(port, destination);
                break;
            default:
                throw new InvalidOperationException("no endpoint to format");
        }
        return written;
    }

    private static int WriteNumber(int value, Span<byte> destination)
        => Utf8Formatter.TryFormat(value, destination, out int written) ? written : throw new ArgumentException("no room for the number", nameof(destination));

    private static bool StartsWithCommand(ReadOnlySpan<byte> line, ReadOnlySpan<byte> command)
    {
        for (int index = 0; index < command.Length; index++)
        {
            // ASCII letters only: OR-ing 0x20 lowers an upper-case letter and leaves the space alone.
            if ((line[index] | 0x20) != (command[index] | 0x20))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>"h1,h2,h3,h4,p1,p2" at <paramref name="start"/>: each 0 to 255, one to three digits.</summary>
    private static bool TryParseSixNumbers(ReadOnlySpan<byte> line, int start, FtpEndpointKind kind, out FtpEndpointLine parsed)
    {
        parsed = default;
        Span<int> numbers = stackalloc int[6];
        int position = start;
        for (int index = 0; index < 6; index++)
        {
            if (index > 0)
            {
                if (position >= line.Length || line[position] != (byte)',')
                {
                    return false;
                }
                position++;
            }
            if (!TryReadNumber(line, ref position, 3, out numbers[index]) || numbers[index] > 255)
            {
                return false;
            }
        }
        uint address = (uint)(numbers[0] << 24 | numbers[1] << 16 | numbers[2] << 8 | numbers[3]);
        parsed = new FtpEndpointLine(kind, new Ipv4Address(address), (ushort)(numbers[4] << 8 | numbers[5]), start, position - start, 0);
        return true;
    }

    /// <summary>RFC 2428 section 2: "EPRT" SP d net-prt d net-addr d tcp-port d, any printable delimiter (33 to 126).</summary>
    private static bool TryParseExtendedPort(ReadOnlySpan<byte> line, out FtpEndpointLine parsed)
    {
        parsed = default;
        const int delimiterAt = 5;
        if (line.Length < delimiterAt + 4)
        {
            return false;
        }
        byte delimiter = line[delimiterAt];
        if (delimiter is < 33 or > 126 || line[delimiterAt + 1] != (byte)'1' || line[delimiterAt + 2] != delimiter)
        {
            return false; // network protocol 2 (IPv6) and others are left alone
        }
        int addressStart = delimiterAt + 3;
        int addressLength = line[addressStart..].IndexOf(delimiter);
        if (addressLength is <= 0 or > Ipv4Address.MaximumFormattedLength)
        {
            return false;
        }
        Span<char> text = stackalloc char[Ipv4Address.MaximumFormattedLength];
        if (Encoding.ASCII.GetChars(line.Slice(addressStart, addressLength), text) != addressLength
            || !Ipv4Address.TryParse(text[..addressLength], out Ipv4Address address))
        {
            return false;
        }
        int position = addressStart + addressLength + 1;
        if (!TryReadNumber(line, ref position, 5, out int port) || port > 65535 || position >= line.Length || line[position] != delimiter)
        {
            return false;
        }
        // The text replaced runs from the address to the port's end: "a.b.c.d|port".
        parsed = new FtpEndpointLine(FtpEndpointKind.ExtendedPort, address, (ushort)port, addressStart, position - addressStart, delimiter);
        return true;
    }

    /// <summary>RFC 2428 section 3: the text "(|||port|)", any printable delimiter, three of them before the port.</summary>
    private static bool TryParseExtendedPassive(ReadOnlySpan<byte> line, out FtpEndpointLine parsed)
    {
        parsed = default;
        int open = line.IndexOf((byte)'(');
        if (open < 0 || open + 5 >= line.Length)
        {
            return false;
        }
        byte delimiter = line[open + 1];
        if (delimiter is < 33 or > 126 || line[open + 2] != delimiter || line[open + 3] != delimiter)
        {
            return false;
        }
        int start = open + 4;
        int position = start;
        if (!TryReadNumber(line, ref position, 5, out int port) || port > 65535 || position + 1 >= line.Length
            || line[position] != delimiter || line[position + 1] != (byte)')')
        {
            return false;
        }
        parsed = new FtpEndpointLine(FtpEndpointKind.ExtendedPassiveReply, Ipv4Address.Any, (ushort)port, start, position - start, delimiter);
        return true;
    }

    private static bool TryReadNumber(ReadOnlySpan<byte> line, ref int position, int maximumDigits, out int value)
    {
        value = 0;
        int end = position;
        while (end < line.Length && end - position < maximumDigits && char.IsAsciiDigit((char)line[end]))
        {
            end++;
        }
        if (end == position || (end < line.Length && char.IsAsciiDigit((char)line[end])) || !Utf8Parser.TryParse(line[position..end], out value, out _))
        {
            return false;
        }
        position = end;
        return true;
    }
}
