using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>Early fragments held for their first fragment, of both families.</summary>
    public int HeldFragments => ipv4.Fragments.HeldFragments + (ipv6?.Fragments.HeldFragments ?? 0);

    /// <summary>Whether the datagram of the first fragment <paramref name="header"/> can be tracked.</summary>
    private static bool HasRoomForFragments<TAddress>(FamilyParts<TAddress> parts, in NetworkHeader<TAddress> header)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => parts.Fragments.HasRoom(FragmentKey<TAddress>.Of(header));

    /// <summary>A translated first fragment: its later fragments follow it by identification, to where the session sent it.</summary>
    private static void RememberFragments<TFamily, TAddress>(FamilyParts<TAddress> parts, in NetworkHeader<TAddress> header, int index, bool forward, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ref Session<TAddress> session = ref parts.Table.At(index);
        FlowKey<TAddress> after = forward ? session.Translated : session.Original.Reverse();
        ushort delta = forward ? session.IpChecksumDelta : InternetChecksum.Negate(session.IpChecksumDelta);
        parts.Fragments.Remember<TFamily>(FragmentKey<TAddress>.Of(header), after.Source, after.Destination, delta, nowTicks);
    }

    private static void RememberPassedFragments<TFamily, TAddress>(FamilyParts<TAddress> parts, in NetworkHeader<TAddress> header, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
        // Untranslated datagrams still need their later fragments let through, unchanged.
        => parts.Fragments.Remember<TFamily>(FragmentKey<TAddress>.Of(header), header.Source, header.Destination, 0xFFFF, nowTicks);

    /// <summary>
    /// A fragment after the first (no ports in it): rewritten as its first fragment was, or, when
    /// that has not come yet, held until it does, in the half of the buffer for its side.
    /// </summary>
    private TranslationResult TranslateLaterFragment<TFamily, TAddress>(FamilyParts<TAddress> parts, Span<byte> packet, in NetworkHeader<TAddress> header, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        var key = FragmentKey<TAddress>.Of(header);
        int length = header.Length;
        if (parts.Fragments.TryRewrite<TFamily>(key, packet[..length]))
        {
            Counters.FragmentsTranslated++;
            return new TranslationResult(Verdict.Forward, DropReason.None, length);
        }
        if (parts.Fragments.TryHold(key, packet[..length], nowTicks, fromOutside: RulesOf<TAddress>().IsExternalAddress(header.Destination)))
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
        if (ipv4.Fragments.TryTakeReleased(destination, out length) || (ipv6 is not null && ipv6.Fragments.TryTakeReleased(destination, out length)))
        {
            Counters.FragmentsTranslated++;
            return true;
        }
        return false;
    }
}
