using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>Early fragments held for their first fragment.</summary>
    public int HeldFragments => fragments.HeldFragments;

    private void RememberFragments(Ipv4Packet ip, int index, bool forward, long nowTicks)
    {
        ref Session session = ref table.At(index);
        FlowKey before = forward ? session.Original : session.Translated.Reverse();
        FlowKey after = forward ? session.Translated : session.Original.Reverse();
        ushort delta = forward ? session.IpChecksumDelta : InternetChecksum.Negate(session.IpChecksumDelta);
        fragments.Remember(new FragmentKey(before.Source, before.Destination, ip.Protocol, ip.Identification), after.Source, after.Destination, delta, nowTicks);
    }

    private void RememberPassedFragments(Ipv4Packet ip, long nowTicks)
    {
        // Untranslated datagrams still need their later fragments let through, unchanged.
        fragments.Remember(new FragmentKey(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.Identification),
            ip.SourceAddress, ip.DestinationAddress, 0xFFFF, nowTicks);
    }

    private TranslationResult TranslateLaterFragment(Span<byte> buffer, Ipv4Packet ip, long nowTicks)
    {
        var key = new FragmentKey(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.Identification);
        int length = ip.TotalLength;
        if (fragments.TryRewrite(key, buffer[..length]))
        {
            Counters.FragmentsTranslated++;
            return new TranslationResult(Verdict.Forward, DropReason.None, length);
        }
        if (fragments.TryHold(key, buffer[..length], nowTicks, fromOutside: IsExternalAddress(ip.DestinationAddress)))
        {
            return new TranslationResult(Verdict.Held, DropReason.None, 0);
        }
        return Drop(DropReason.FragmentBufferFull);
    }

    /// <summary>
    /// Copies out a held fragment that its first fragment has since released, translated; call
    /// after each batch until it returns false.
    /// </summary>
    public bool TryTakeReleasedPacket(Span<byte> destination, out int length)
    {
        if (fragments.TryTakeReleased(destination, out length))
        {
            Counters.FragmentsTranslated++;
            return true;
        }
        return false;
    }
}
