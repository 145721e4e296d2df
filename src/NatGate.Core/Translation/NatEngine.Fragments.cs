using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>Early fragments held for their first fragment, of both families.</summary>
    public int HeldFragments => ipv4.Fragments.HeldFragments + (ipv6?.Fragments.HeldFragments ?? 0) + (nat64?.Fragments.HeldFragments ?? 0);

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
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
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
    /// Copies out a packet the engine made or let go since: a held fragment that its first
    /// fragment has released, translated, or a piece of a NAT64 packet split to fit the minimum
    /// IPv6 MTU. Call after each batch until it returns false; <paramref name="destination"/>
    /// should hold 2048 bytes (a held fragment's size) or more.
    /// </summary>
    public bool TryTakeReleasedPacket(Span<byte> destination, out int length)
    {
        while (true)
        {
            if (nat64 is not null && nat64.TryTakePiece(destination, out length))
            {
                return true;
            }
            bool translateAgain = false;
            long releasedTicks = 0;
            if (!ipv4.Fragments.TryTakeReleased(destination, out length, out translateAgain, out releasedTicks)
                && (ipv6 is null || !ipv6.Fragments.TryTakeReleased(destination, out length, out translateAgain, out releasedTicks))
                && (nat64 is null || !nat64.Fragments.TryTakeReleased(destination, out length, out translateAgain, out releasedTicks)))
            {
                return false;
            }
            if (!translateAgain)
            {
                Counters.FragmentsTranslated++;
                return true;
            }
            // Released as it came, its datagram now NAT64's (NatEngine.Nat64Fragments): translated
            // now, as when it came; dropped here (and counted) if that fails.
            TranslationResult result = Translate(destination, length, releasedTicks);
            if (result.Verdict == Verdict.Forward)
            {
                length = result.Length;
                return true;
            }
        }
    }

    /// <summary>Whether <see cref="TryTakeReleasedPacket"/> has something to give.</summary>
    public bool HasReleasedPackets
        => ipv4.Fragments.HasReleased || (ipv6?.Fragments.HasReleased ?? false) || (nat64 is not null && (nat64.QueuedPieces > 0 || nat64.Fragments.HasReleased));
}
