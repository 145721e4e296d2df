using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Helpers.Ftp;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    // The FTP helper (ipnat "proxy port ftp ftp/tcp"): made with the first rule that names it, so
    // an engine without one pays nothing on any path but a null test.
    private FtpHelper? ftp;

    /// <summary>What the FTP helper has done; all zero while no rule names it.</summary>
    public FtpHelperStatistics FtpStatistics => ftp?.Statistics ?? default;

    /// <summary>After every swap of the matching order: starts the FTP helper once an IPv4 rule names it.</summary>
    private void StartHelpers()
    {
        if (ftp is not null)
        {
            return;
        }
        for (int index = 0; index < rules.Count; index++)
        {
            if (rules[index] is { Active: true } slot && slot.Rule.Proxy is { IsFtp: true } && !slot.Rule.IsIpv6)
            {
                ftp = new FtpHelper(table, pools, rules);
                sessions.Observe(ftp);
                return;
            }
        }
    }

    /// <summary>A packet of an FTP control connection: the session's rewrite, then the helper's (<see cref="FtpHelper.Process"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateControlConnection(Span<byte> buffer, Ipv4Packet ip, int index, bool forward, long nowTicks, bool checksumPartial)
    {
        TranslationResult result = Apply<Ipv4Family, Ipv4Address>(ipv4, index, forward, ip.Bytes, HeaderOf(ip), ip.Payload, nowTicks, checksumPartial);
        if (result.Verdict != Verdict.Forward)
        {
            return result;
        }
        int length = ftp!.Process(buffer, result.Length, index, forward, checksumPartial, nowTicks);
        return new TranslationResult(Verdict.Forward, DropReason.None, length);
    }

    /// <summary>
    /// A TCP SYN from outside that no session matches: when the FTP helper expects it (a data
    /// connection a PORT, EPRT, 227 or 229 announced), makes its session, which leads to the inside
    /// endpoint the line named, whatever the rule's filtering says. False: not expected.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAdmitExpected(Span<byte> buffer, Ipv4Packet ip, FlowKey key, long nowTicks, bool checksumPartial, out TranslationResult result)
    {
        result = default;
        if (!ftp!.TryTake(key, ip.Payload, nowTicks, out FtpHelper.ExpectedConnection expected))
        {
            return false;
        }
        if (IsLocked)
        {
            ftp.Adopt(-1, expected, nowTicks);
            result = Drop(DropReason.Locked);
            return true;
        }
        var translated = new FlowKey(IpProtocol.Tcp, key.Source, key.SourcePort, expected.Port.Inside, expected.Port.InsidePort);
        var session = new Session
        {
            Original = key,
            Translated = translated,
            RuleIndex = expected.RuleIndex,
            CreatedSeconds = table.SecondsSinceEpoch(nowTicks),
            LastSeenSeconds = table.SecondsSinceEpoch(nowTicks),
            Attributes = SessionAttributes.InitiatedOutside,
        };
        (session.IpChecksumDelta, session.TransportChecksumDelta) = PacketRewrite.Deltas<Ipv4Family, Ipv4Address>(key, translated);
        TableRefusal refusal = table.CheckRoom(session, startsMapping: false);
        if (refusal != TableRefusal.None)
        {
            ftp.Adopt(-1, expected, nowTicks);
            Counters.NoMemory++;
            result = Drop(refusal switch
            {
                TableRefusal.TableFull => DropReason.TableFull,
                TableRefusal.HostLimit => DropReason.HostLimit,
                TableRefusal.BucketFull => DropReason.BucketFull,
                _ => DropReason.Conflict,
            });
            return true;
        }
        int index = sessions.Insert(session, join: -1, startsMapping: false, nowTicks + sessions.TimeoutOf(session), nowTicks);
        ftp.Adopt(index, expected, nowTicks);
        result = Apply<Ipv4Family, Ipv4Address>(ipv4, index, forward: true, ip.Bytes, HeaderOf(ip), ip.Payload, nowTicks, checksumPartial);
        return true;
    }
}
