using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Helpers.Ftp;

/// <summary>
/// IP Filter's <c>proxy port ftp ftp/tcp</c> (its ip_ftp_pxy.c), conntrack's nf_nat_ftp: follows
/// the control connections of rules that name it and rewrites the data endpoints they carry.
/// <list type="bullet">
/// <item>Active mode, client inside (a map rule): PORT and EPRT (RFC 959, RFC 2428) name the
/// external address and a port allocated from the rule as a new session's would be; the
/// server's data connection to it is expected.</item>
/// <item>Passive mode, server inside (an rdr rule): 227 and 229 replies name the external address
/// and a port on it; the client's data connection to it is expected.</item>
/// </list>
/// An expectation admits one TCP connection from the control connection's remote address to the
/// external endpoint, under any filtering behaviour, and goes when used, when its control
/// connection ends, or after <see cref="ExpectationTimeout"/>. A rewrite that changes a line's
/// length moves the sequence numbers of the rest of the connection (<see cref="SequenceAdjustment"/>).
/// A line is read only when it is whole in one segment that starts a line; anything else passes
/// untouched, so a line is rewritten whole or not at all. The per-connection state is kept here,
/// keyed by session slot, for the helper's sessions alone; IPv4 only.
/// </summary>
internal sealed class FtpHelper : ISessionObserver<Ipv4Address>
{
    /// <summary>How long an expectation waits: conntrack's FTP helper's 5 minutes (nf_conntrack_ftp, ftp_exp_policy).</summary>
    public static readonly TimeSpan ExpectationTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Expectations held at once; a PORT past it is passed on untouched.</summary>
    public const int MaximumExpectations = 1024;

    private readonly FlowTable<Ipv4Address> table;
    private readonly AddressPools<Ipv4Address> pools;
    private readonly RuleSlotTable rules;

    // One bit per slot: a control connection is there (what the per-packet path asks).
    private readonly ulong[] controlSlots;
    private readonly Dictionary<int, ControlState> controls = [];

    // The data sessions an expectation made, and the external port each owns until it ends.
    private readonly Dictionary<int, OwnedPort> dataPorts = [];

    // Pending expectations, by external endpoint.
    private readonly Dictionary<FlowKey, Expectation> expectations = new(MaximumExpectations);

    private long rewritten;
    private long leftAlone;
    private long dataConnections;
    private long timedOut;

    public FtpHelper(FlowTable<Ipv4Address> table, AddressPools<Ipv4Address> pools, RuleSlotTable rules)
    {
        this.table = table;
        this.pools = pools;
        this.rules = rules;
        controlSlots = new ulong[(table.Capacity + 63) / 64];
    }

    public FtpHelperStatistics Statistics => new(controls.Count, rewritten, leftAlone, expectations.Count, dataConnections, timedOut);

    /// <summary>Whether some data connection is expected (the new-flow path asks only then).</summary>
    public bool HasExpectations => expectations.Count != 0;

    /// <summary>Whether the session in <paramref name="index"/> is an FTP control connection this helper follows.</summary>
    public bool IsControlConnection(int index) => (controlSlots[index >> 6] & (1UL << index)) != 0;

    /// <summary>
    /// Whether <paramref name="session"/> is an FTP control connection: TCP of a map, map-block or
    /// rdr rule with <c>proxy port P ftp/tcp</c>, to port P (before an rdr's translation or after),
    /// translated on one side only (not hairpinned).
    /// </summary>
    public bool Follows(in Session<Ipv4Address> session)
    {
        NatRule? rule = rules[session.RuleIndex]?.Rule;
        if (rule?.Proxy is not { IsFtp: true } proxy || session.Original.Protocol != IpProtocol.Tcp
            || rule.Kind == NatRuleKind.Bidirectional
            || (session.Original.DestinationPort != proxy.Port && session.Translated.DestinationPort != proxy.Port))
        {
            return false;
        }
        bool sourceTranslated = session.Original.Source != session.Translated.Source || session.Original.SourcePort != session.Translated.SourcePort;
        bool destinationTranslated = session.Original.Destination != session.Translated.Destination || session.Original.DestinationPort != session.Translated.DestinationPort;
        return sourceTranslated != destinationTranslated;
    }

    public void Created(int index, in Session<Ipv4Address> session, long nowTicks)
    {
        if (Follows(session))
        {
            controls[index] = new ControlState { ServerInside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0 };
            controlSlots[index >> 6] |= 1UL << index;
        }
    }

    public void TcpStateChanged(int index, in Session<Ipv4Address> session, TcpTracking before, long nowTicks)
    {
    }

    public void Removed(int index, in Session<Ipv4Address> session, SessionEndReason reason, long nowTicks)
    {
        if (IsControlConnection(index))
        {
            controlSlots[index >> 6] &= ~(1UL << index);
            if (controls.Remove(index, out ControlState state) && state.HasExpectation)
            {
                // conntrack removes a master's expectations with it: no data connection for a gone control one.
                if (expectations.Remove(state.Expected, out Expectation expectation))
                {
                    Release(expectation.Port, 0);
                }
            }
        }
        else if (dataPorts.Remove(index, out OwnedPort port))
        {
            Release(port, 0);
        }
    }

    /// <summary>
    /// A TCP packet of a control connection, already translated by its session: rewrites a data
    /// endpoint in it, and moves its sequence and acknowledgement numbers (SACK edges too) by what
    /// earlier rewrites changed. <paramref name="buffer"/> holds the packet in its first
    /// <paramref name="length"/> bytes and has room after it. Returns the packet's new length.
    /// </summary>
    public int Process(Span<byte> buffer, int length, int index, bool forward, bool checksumPartial, long nowTicks)
    {
        ref ControlState state = ref CollectionsMarshal.GetValueRefOrNullRef(controls, index);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref state)
            || Ipv4Packet.TryParse(buffer[..length], out Ipv4Packet ip) != PacketError.None
            || TcpSegment.TryParse(ip.Payload, out TcpSegment segment) != PacketError.None)
        {
            return length;
        }
        int transportStart = ip.HeaderLength;
        int payloadStart = transportStart + segment.HeaderLength;
        int end = ip.TotalLength;
        uint sequence = segment.SequenceNumber;
        var flags = segment.Flags;
        ref SequenceAdjustment own = ref forward ? ref state.ClientToServer : ref state.ServerToClient;
        ref LineTracking lines = ref forward ? ref state.ClientLines : ref state.ServerLines;
        if ((flags & TcpFlags.Syn) != 0)
        {
            lines.Start(unchecked(sequence + 1));
        }

        // The client's commands carry endpoints when it is inside; the server's replies when it is.
        int change = 0;
        bool rewrote = false;
        bool rewrites = forward != state.ServerInside;
        // A damaged segment (a complete checksum that does not hold) is neither read nor rewritten:
        // the receiver drops it and its sender sends it again, and a checksum computed over a
        // rewrite would make it look whole. (A partial checksum is the sending kernel's own.)
        if (payloadStart < end && (checksumPartial || TransportChecksum.IsValidIpv4(ip.SourceAddress, ip.DestinationAddress, IpProtocol.Tcp, buffer[transportStart..end])))
        {
            bool readable = lines.StartsLine(sequence) || (state.Rewrite.Valid && state.Rewrite.Sequence == sequence);
            bool endsLine = buffer[end - 1] == (byte)'\n';
            uint payloadLength = (uint)(end - payloadStart);
            if (rewrites && readable)
            {
                rewrote = TryRewrite(buffer, ref state, ip, payloadStart, end, sequence, index, nowTicks, out change);
            }
            lines.Saw(sequence, payloadLength, endsLine);
        }
        own.Record(sequence, change);
        end += change;
        Span<byte> transport = buffer[transportStart..end];
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(transport[TcpSegment.Field.Checksum..]);
        checksum = Adjust(transport, own, forward ? state.ServerToClient : state.ClientToServer, flags, checksum, incremental: !checksumPartial && !rewrote);
        BinaryPrimitives.WriteUInt16BigEndian(transport[TcpSegment.Field.Checksum..], checksum);
        if (rewrote)
        {
            // The data changed (its length too, perhaps): the checksum is computed again whole.
            Ipv4Address source = Ipv4Address.Read(buffer[Ipv4Packet.Field.SourceAddress..]);
            Ipv4Address destination = Ipv4Address.Read(buffer[Ipv4Packet.Field.DestinationAddress..]);
            ushort pseudoHeader = InternetChecksum.PseudoHeaderSum(source, destination, IpProtocol.Tcp, transport.Length);
            // NEEDS_CSUM: the field holds the pseudo-header's sum alone, which counts the length.
            BinaryPrimitives.WriteUInt16BigEndian(transport[TcpSegment.Field.Checksum..], checksumPartial ? pseudoHeader : (ushort)0);
            if (!checksumPartial)
            {
                BinaryPrimitives.WriteUInt16BigEndian(transport[TcpSegment.Field.Checksum..], InternetChecksum.Compute(transport, pseudoHeader));
            }
        }
        return end;
    }

    /// <summary>
    /// Finds the one endpoint line of a segment and rewrites it; <paramref name="change"/> is how
    /// much longer the line became (negative: shorter).
    /// </summary>
    private bool TryRewrite(Span<byte> buffer, ref ControlState state, Ipv4Packet ip, int payloadStart, int end, uint sequence, int controlIndex, long nowTicks, out int change)
    {
        change = 0;
        ReadOnlySpan<byte> payload = buffer[payloadStart..end];
        FtpEndpointLine found = default;
        int foundAt = -1;
        int lines = 0;
        for (int offset = 0; offset < payload.Length;)
        {
            int newline = payload[offset..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                // An unfinished line: if it is an endpoint's, the rest comes in the next segment,
                // which starts mid-line and is not read. The part here passes as it came.
                break;
            }
            ReadOnlySpan<byte> line = payload.Slice(offset, newline + 1);
            if (FtpEndpointLine.TryParse(line, fromClient: !state.ServerInside, out FtpEndpointLine parsed))
            {
                lines++;
                found = parsed;
                foundAt = offset;
            }
            offset += newline + 1;
        }
        if (lines == 0)
        {
            return false;
        }
        ref Session<Ipv4Address> session = ref table.At(controlIndex);
        bool retransmission = state.Rewrite.Valid && state.Rewrite.Sequence == sequence;
        // What the line must name (the inside end of the connection) and what it will name.
        Ipv4Address inside = state.ServerInside ? session.Translated.Destination : session.Original.Source;
        Ipv4Address external = state.ServerInside ? session.Original.Destination : session.Translated.Source;
        if (lines > 1 || (found.Kind != FtpEndpointKind.ExtendedPassiveReply && found.Address != inside))
        {
            // Two endpoints in one segment (never a client's or server's way), or an endpoint
            // of another host (FXP, a spoof): passed on as they came, no expectation.
            leftAlone++;
            return false;
        }
        if (end + (found.MaximumReplacementLength - found.TextLength) > buffer.Length)
        {
            // No room to grow (a full buffer): passed on as it came, before any port is taken.
            leftAlone++;
            return false;
        }
        ushort mappedPort;
        if (retransmission)
        {
            mappedPort = state.Rewrite.MappedPort;
        }
        else if (!TryExpect(ref state, controlIndex, session, inside, found.Port, external, nowTicks, out mappedPort))
        {
            leftAlone++;
            return false;
        }
        Span<byte> text = stackalloc byte[FtpEndpointLine.MaximumTextLength];
        int textLength = found.FormatText(external, mappedPort, text);
        change = textLength - found.TextLength;
        int textAt = payloadStart + foundAt + found.TextStart;
        int tail = textAt + found.TextLength;
        buffer[tail..end].CopyTo(buffer[(tail + change)..]);
        text[..textLength].CopyTo(buffer[textAt..]);
        if (change != 0)
        {
            ushort totalLength = (ushort)(end + change);
            ushort headerChecksum = BinaryPrimitives.ReadUInt16BigEndian(buffer[Ipv4Packet.Field.HeaderChecksum..]);
            BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.HeaderChecksum..],
                InternetChecksum.Update(headerChecksum, ip.TotalLength, totalLength));
            BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.TotalLength..], totalLength);
        }
        state.Rewrite = new RewriteRecord { Valid = true, Sequence = sequence, MappedPort = mappedPort };
        rewritten++;
        return true;
    }

    /// <summary>
    /// Makes the expectation for the data endpoint <paramref name="inside"/>:<paramref name="insidePort"/>
    /// on <paramref name="external"/>, replacing the control connection's earlier one (one at a
    /// time, as conntrack's FTP helper): the port from the rule as a new session's would be
    /// (client inside), or on the address the client reached (server inside).
    /// </summary>
    private bool TryExpect(ref ControlState state, int controlIndex, in Session<Ipv4Address> control, Ipv4Address inside, ushort insidePort,
        Ipv4Address external, long nowTicks, out ushort mappedPort)
    {
        mappedPort = 0;
        if (state.HasExpectation && expectations.Remove(state.Expected, out Expectation earlier))
        {
            Release(earlier.Port, nowTicks);
            state.HasExpectation = false;
        }
        ExpireExpectations(nowTicks);
        if (expectations.Count >= MaximumExpectations || insidePort == 0)
        {
            return false;
        }
        RuleSlot rule = rules[control.RuleIndex]!;
        Ipv4Address remote = state.ServerInside ? control.Original.Source : control.Translated.Destination;
        var key = new FlowKey(IpProtocol.Tcp, inside, insidePort, remote, 0);
        ExternalAddressPool<Ipv4Address>? pool;
        Ipv4Address address;
        DropReason refusal = state.ServerInside
            ? pools.AllocateOnAddress(pools.PoolOf(external), new PortRange(1024, 65535), key, nowTicks, preserveParity: false, out address, out mappedPort, out pool)
            : pools.AllocateFromRule(rule, key, nowTicks, out address, out mappedPort, out pool);
        var owned = new OwnedPort(pool, address, mappedPort, inside, insidePort);
        if (refusal != DropReason.None)
        {
            return false;
        }
        if (address != external || mappedPort == rule.Rule.Proxy!.Port)
        {
            // The data connection must come to the address the control connection uses (servers
            // refuse a PORT naming another, vsftpd's "Illegal PORT command").
            Release(owned, nowTicks);
            return false;
        }
        FlowKey externalKey = FlowTable<Ipv4Address>.ExternalMappingKey(IpProtocol.Tcp, external, mappedPort);
        expectations[externalKey] = new Expectation(remote, owned, control.RuleIndex, controlIndex, nowTicks + ExpectationTimeout.Ticks);
        state.Expected = externalKey;
        state.HasExpectation = true;
        return true;
    }

    /// <summary>
    /// A TCP packet from outside that matches no session: when it opens the connection an
    /// expectation waits for (a SYN from the control connection's remote address to the external
    /// endpoint), takes the expectation. The caller makes the data session and hands it to <see cref="Adopt"/>.
    /// </summary>
    public bool TryTake(in FlowKey key, ReadOnlySpan<byte> transport, long nowTicks, out ExpectedConnection expected)
    {
        expected = default;
        FlowKey externalKey = FlowTable<Ipv4Address>.ExternalMappingKey(IpProtocol.Tcp, key.Destination, key.DestinationPort);
        if (key.Protocol != IpProtocol.Tcp || ((TcpFlags)transport[TcpSegment.Field.Flags] & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) != TcpFlags.Syn
            || !expectations.TryGetValue(externalKey, out Expectation expectation) || expectation.Remote != key.Source)
        {
            return false;
        }
        expectations.Remove(externalKey);
        ref ControlState state = ref CollectionsMarshal.GetValueRefOrNullRef(controls, expectation.ControlIndex);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref state) && state.HasExpectation && state.Expected == externalKey)
        {
            state.HasExpectation = false;
        }
        if (expectation.ExpiresTicks <= nowTicks)
        {
            Release(expectation.Port, nowTicks);
            timedOut++;
            return false;
        }
        expected = new ExpectedConnection(expectation.Port, expectation.RuleIndex);
        return true;
    }

    /// <summary>The data session made for <paramref name="expected"/> owns its external port from now on (or, refused, gives it back).</summary>
    public void Adopt(int index, in ExpectedConnection expected, long nowTicks)
    {
        if (index < 0)
        {
            Release(expected.Port, nowTicks);
            return;
        }
        dataPorts[index] = expected.Port;
        dataConnections++;
    }

    /// <summary>Drops the expectations past their time, giving their ports back; returns how many.</summary>
    public int ExpireExpectations(long nowTicks)
    {
        if (expectations.Count == 0)
        {
            return 0;
        }
        int expired = 0;
        foreach ((FlowKey key, Expectation expectation) in expectations)
        {
            if (expectation.ExpiresTicks <= nowTicks)
            {
                expectations.Remove(key);
                Release(expectation.Port, nowTicks);
                ref ControlState state = ref CollectionsMarshal.GetValueRefOrNullRef(controls, expectation.ControlIndex);
                if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref state) && state.Expected == key)
                {
                    state.HasExpectation = false;
                }
                expired++;
            }
        }
        timedOut += expired;
        return expired;
    }

    private void Release(in OwnedPort port, long nowTicks)
        => pools.ReleaseAllocation(port.Pool, IpProtocol.Tcp, port.Port, port.Inside, nowTicks);

    /// <summary>
    /// Moves the sequence number by this direction's changes and the acknowledgement and SACK
    /// edges (RFC 2018) back by the other's; returns the checksum, updated for each change when
    /// <paramref name="incremental"/> (RFC 1624), else as it was (to be computed whole, or a
    /// partial sum, which covers no header field but the pseudo-header's).
    /// </summary>
    private static ushort Adjust(Span<byte> transport, in SequenceAdjustment own, in SequenceAdjustment other, TcpFlags flags, ushort checksum, bool incremental)
    {
        if (!own.IsEmpty)
        {
            checksum = Replace(transport, TcpSegment.Field.SequenceNumber, own, acknowledgement: false, checksum, incremental);
        }
        if (other.IsEmpty || (flags & TcpFlags.Ack) == 0)
        {
            return checksum;
        }
        checksum = Replace(transport, TcpSegment.Field.AcknowledgmentNumber, other, acknowledgement: true, checksum, incremental);
        int headerLength = Math.Min((transport[TcpSegment.Field.DataOffset] >> 4) * 4, transport.Length);
        Span<byte> options = transport[TcpSegment.Field.Options..headerLength];
        for (int offset = 0; offset < options.Length;)
        {
            byte kind = options[offset];
            if (kind == 0)
            {
                break;
            }
            if (kind == 1)
            {
                offset++;
                continue;
            }
            if (offset + 1 >= options.Length || options[offset + 1] < 2 || offset + options[offset + 1] > options.Length)
            {
                break; // a malformed list: left as it is
            }
            int optionLength = options[offset + 1];
            if (kind == 5)
            {
                // SACK (RFC 2018 section 3): blocks of two edges, each acknowledging the other direction's data.
                for (int edge = offset + 2; edge + 4 <= offset + optionLength; edge += 4)
                {
                    checksum = Replace(transport, TcpSegment.Field.Options + edge, other, acknowledgement: true, checksum, incremental);
                }
            }
            offset += optionLength;
        }
        return checksum;
    }

    /// <summary>
    /// Moves the 32-bit field at <paramref name="position"/> of the segment. RFC 1624 works on
    /// 16-bit words: at an odd position (a SACK option after a single no-op) the field's bytes sit
    /// in the other halves of their words, and the delta is byte-swapped (RFC 1071 section 2(B)).
    /// </summary>
    private static ushort Replace(Span<byte> transport, int position, in SequenceAdjustment adjustment, bool acknowledgement, ushort checksum, bool incremental)
    {
        Span<byte> field = transport.Slice(position, 4);
        uint before = BinaryPrimitives.ReadUInt32BigEndian(field);
        uint after = acknowledgement ? adjustment.Acknowledgement(before) : adjustment.Sequence(before);
        BinaryPrimitives.WriteUInt32BigEndian(field, after);
        if (!incremental)
        {
            return checksum;
        }
        ushort delta = InternetChecksum.Delta(before, after);
        return InternetChecksum.ApplyDelta(checksum, (position & 1) == 0 ? delta : BinaryPrimitives.ReverseEndianness(delta));
    }

    /// <summary>An external port the helper took from a pool, until a data session or the expectation ends, and the inside endpoint it leads to.</summary>
    internal readonly record struct OwnedPort(ExternalAddressPool<Ipv4Address>? Pool, Ipv4Address External, ushort Port, Ipv4Address Inside, ushort InsidePort);

    /// <summary>What an expectation admitted: the data connection's external port (its inside end) and the rule it belongs to.</summary>
    internal readonly record struct ExpectedConnection(OwnedPort Port, int RuleIndex);

    private readonly record struct Expectation(Ipv4Address Remote, OwnedPort Port, int RuleIndex, int ControlIndex, long ExpiresTicks);

    /// <summary>Where lines start in one direction (conntrack's seq_aft_nl): only a segment that starts one is read.</summary>
    private struct LineTracking
    {
        private uint nextLineStart;
        private bool known;

        public void Start(uint sequence) => (nextLineStart, known) = (sequence, true);

        /// <summary>The first data seen starts a line (a connection picked up mid-way reads from its next whole segment).</summary>
        public readonly bool StartsLine(uint sequence) => !known || sequence == nextLineStart;

        public void Saw(uint sequence, uint length, bool endsLine)
        {
            uint after = unchecked(sequence + length);
            if (endsLine && (!known || SequenceAdjustment.IsBefore(nextLineStart, after)))
            {
                (nextLineStart, known) = (after, true);
            }
            else if (!known)
            {
                // The first data, read as a line's start, left a line open: what follows is
                // mid-line until a segment ends one (only this segment again starts a line).
                (nextLineStart, known) = (sequence, true);
            }
        }
    }

    private struct RewriteRecord
    {
        public bool Valid;
        public uint Sequence;
        public ushort MappedPort;
    }

    private struct ControlState
    {
        public bool ServerInside;
        public SequenceAdjustment ClientToServer;
        public SequenceAdjustment ServerToClient;
        public LineTracking ClientLines;
        public LineTracking ServerLines;
        public RewriteRecord Rewrite;
        public bool HasExpectation;
        public FlowKey Expected;
    }
}
