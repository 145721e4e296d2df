using System.Globalization;

namespace NatGate.Core.Packets;

/// <summary>Dotted-decimal text for IPv4 addresses held as <see cref="uint"/> in host order (0xC0A80001 is 192.168.0.1).</summary>
public static class Ipv4Address
{
    /// <summary>The longest dotted-decimal form, "255.255.255.255".</summary>
    public const int MaximumFormattedLength = 15;

    /// <summary>Parses "a.b.c.d"; throws <see cref="FormatException"/> on anything else.</summary>
    public static uint Parse(string dotted)
    {
        ArgumentNullException.ThrowIfNull(dotted);
        return TryParse(dotted, out uint address)
            ? address
            : throw new FormatException($"'{dotted}' is not an IPv4 address; write four numbers 0 to 255 separated by dots, such as 192.168.0.1.");
    }

    /// <summary>
    /// Parses exactly four decimal numbers 0 to 255 separated by dots. Leading zeros are refused,
    /// since some parsers read them as octal ("010" as 8).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out uint address)
    {
        address = 0;
        uint result = 0;
        int position = 0;
        for (int part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (position >= text.Length || text[position] != '.')
                {
                    return false;
                }
                position++;
            }
            int start = position;
            int value = 0;
            while (position < text.Length && char.IsAsciiDigit(text[position]) && position - start < 3)
            {
                value = value * 10 + (text[position] - '0');
                position++;
            }
            int digits = position - start;
            if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0'))
            {
                return false;
            }
            result = result << 8 | (uint)value;
        }
        if (position != text.Length)
        {
            return false;
        }
        address = result;
        return true;
    }

    /// <summary>Formats as "a.b.c.d".</summary>
    public static string Format(uint address)
    {
        Span<char> buffer = stackalloc char[MaximumFormattedLength];
        TryFormat(address, buffer, out int written);
        return new string(buffer[..written]);
    }

    /// <summary>Formats as "a.b.c.d" into <paramref name="destination"/>; false if it is too short.</summary>
    public static bool TryFormat(uint address, Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            if (shift != 24)
            {
                if (charsWritten >= destination.Length)
                {
                    charsWritten = 0;
                    return false;
                }
                destination[charsWritten++] = '.';
            }
            if (!((byte)(address >> shift)).TryFormat(destination[charsWritten..], out int written, default, CultureInfo.InvariantCulture))
            {
                charsWritten = 0;
                return false;
            }
            charsWritten += written;
        }
        return true;
    }
}
