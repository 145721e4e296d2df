using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Nat64;

using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// An IPv4 datagram's key in NAT64's fragment tracker: its addresses IPv4-mapped, its protocol
    /// and identification (RFC 791), so it never meets an IPv6 datagram's key.
    /// </summary>
    private static FragmentKey<Ipv6Address> Nat64FragmentKey(Ipv4Packet ip)
        => new(Ipv6Address.MapIpv4(ip.SourceAddress), Ipv6Address.MapIpv4(ip.DestinationAddress), ip.Protocol, ip.Identification);

    /// <summary>
    /// A translated first fragment: its later fragments will follow it to <paramref name="target"/>'s
    /// addresses (RFC 6146 3.4), and those that came before it are let out to be translated again,
    /// from NAT64's tracker (IPv6's) or from IPv4's, where an IPv4 fragment waits until its first
    /// says whose it is.
    /// </summary>
    private void RememberNat64Datagram(Nat64Parts parts, FragmentKey<Ipv6Address> datagram, in FlowKey<Ipv6Address> target, ReadOnlySpan<byte> packet,
        bool fromIpv6, long nowTicks)
    {
        parts.Fragments.RememberAcrossFamilies(datagram, target.Source, target.Destination, nowTicks);
        if (!fromIpv6)
        {
            ipv4.Fragments.ReleaseUntranslated(new FragmentKey<Ipv4Address>(Ipv4Address.Read(packet[Ipv4Packet.Field.SourceAddress..]),
                Ipv4Address.Read(packet[Ipv4Packet.Field.DestinationAddress..]), (IpProtocol)packet[Ipv4Packet.Field.Protocol],
                (ushort)(packet[Ipv4Packet.Field.Identification] << 8 | packet[Ipv4Packet.Field.Identification + 1])), nowTicks);
        }
    }

    /// <summary>
    /// The first fragment of an ICMP echo whose length is not known yet: its datagram is
    /// remembered (so the later fragments pass as they come) and it is held, to be translated
    /// again when the last fragment tells the length its checksum's pseudo-header counts.
    /// </summary>
    private TranslationResult HoldNat64FirstFragment(Nat64Parts parts, FragmentKey<Ipv6Address> datagram, in FlowKey<Ipv6Address> target,
        ReadOnlySpan<byte> packet, bool fromIpv6, long nowTicks)
    {
        RememberNat64Datagram(parts, datagram, target, packet, fromIpv6, nowTicks);
        return parts.Fragments.TryHold(datagram, packet, nowTicks, fromOutside: !fromIpv6)
            ? new TranslationResult(Verdict.Held, DropReason.None, 0)
            : Drop(DropReason.FragmentBufferFull);
    }

    /// <summary>
    /// An IPv4 fragment after the first: NAT64's when its datagram's first fragment was; false
    /// when it is not known here, and IPv4's path takes it (and holds it if no first has come yet).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private bool TryTranslateNat64LaterFragment(Span<byte> buffer, Ipv4Packet ip, long nowTicks, out TranslationResult result)
    {
        FragmentKey<Ipv6Address> datagram = Nat64FragmentKey(ip);
        if (!nat64!.Fragments.TryGetDestination(datagram, out _, out _, out _))
        {
            result = default;
            return false;
        }
        result = TranslateNat64LaterFragment(nat64, buffer, datagram, fromIpv6: false, ip.FragmentOffset + ip.TotalLength - ip.HeaderLength,
            !ip.MoreFragments, nowTicks);
        return true;
    }

    /// <summary>
    /// A fragment after the first, either family, translated to the other with the addresses its
    /// first fragment went to (RFC 7915 4.1 and 5.1.1: an IPv6 Fragment header from IPv4's fields,
    /// or IPv4's fields from it); its data holds no port to change. An IPv6 one that comes before
    /// its first is held. The last fragment (<paramref name="last"/>) tells the datagram's length,
    /// <paramref name="dataEnd"/>, which a held ICMP echo's first fragment waits for.
    /// </summary>
    private TranslationResult TranslateNat64LaterFragment(Nat64Parts parts, Span<byte> buffer, FragmentKey<Ipv6Address> datagram, bool fromIpv6,
        int dataEnd, bool last, long nowTicks)
    {
        int length = fromIpv6 ? Ipv6Packet.HeaderLength + (buffer[Ipv6Packet.Field.PayloadLength] << 8 | buffer[Ipv6Packet.Field.PayloadLength + 1])
            : buffer[Ipv4Packet.Field.TotalLength] << 8 | buffer[Ipv4Packet.Field.TotalLength + 1];
        ReadOnlySpan<byte> packet = buffer[..length];
        if (!parts.Fragments.TryGetDestination(datagram, out Ipv6Address source, out Ipv6Address destination, out _))
        {
            return parts.Fragments.TryHold(datagram, packet, nowTicks, fromOutside: false)
                ? new TranslationResult(Verdict.Held, DropReason.None, 0)
                : Drop(DropReason.FragmentBufferFull);
        }
        if (last)
        {
            parts.Fragments.NoteDatagramLength(datagram, dataEnd);
            parts.Fragments.ReleaseUntranslated(datagram, nowTicks);
        }
        Nat64TranslationResult translation = fromIpv6
            ? Ipv6ToIpv4Translator.Translate(packet, new Ipv4Endpoints(source.MappedIpv4, destination.MappedIpv4), parts.Output, out int written)
            : Ipv4ToIpv6Translator.Translate(packet, new Ipv6Endpoints(source, destination), parts.Output, out written);
        if (!translation.IsTranslated)
        {
            return Nat64Failed(translation.DropReason);
        }
        DropReason undelivered = DeliverNat64(parts, written, buffer, out written);
        if (undelivered != DropReason.None)
        {
            return Drop(undelivered);
        }
        if (fromIpv6 && IsExternalAddress(destination.MappedIpv4))
        {
            // Hairpinned, as its first fragment was (RFC 6146 3.8): inbound at once, after it, and
            // counted there (or as its drop there), once.
            return Translate(buffer, written, nowTicks);
        }
        Counters.FragmentsTranslated++;
        return new TranslationResult(Verdict.Forward, DropReason.None, written);
    }

    /// <summary>
    /// Copies the translation in NAT64's output over the packet's buffer. An IPv6 packet longer than
    /// the minimum MTU with a Fragment header (an IPv4 fragment, or a packet without DF) is split to
    /// fit it (RFC 7915 4.1): the first piece in the buffer, the rest queued for
    /// <see cref="TryTakeReleasedPacket"/>, or the whole dropped when the queue has no room for them.
    /// </summary>
    private static DropReason DeliverNat64(Nat64Parts parts, int written, Span<byte> buffer, out int length)
    {
        ReadOnlySpan<byte> output = parts.Output.AsSpan(0, written);
        length = 0;
        if (Ipv6FragmentSplitter.NeedsSplitting(output))
        {
            int pieces = Ipv6FragmentSplitter.PieceCount(written);
            if (!parts.HasRoomForPieces(pieces - 1) || buffer.Length < Ipv6FragmentSplitter.MinimumMtu)
            {
                return DropReason.FragmentBufferFull;
            }
            length = Ipv6FragmentSplitter.WritePiece(output, 0, buffer);
            for (int piece = 1; piece < pieces; piece++)
            {
                parts.QueuePiece(output, piece);
            }
            return DropReason.None;
        }
        if (written > buffer.Length)
        {
            return DropReason.UntranslatableAcrossFamilies; // no room for the longer header
        }
        output.CopyTo(buffer);
        length = written;
        return DropReason.None;
    }
}
