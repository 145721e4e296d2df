using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Helpers;

/// <summary>
/// The FTP helper in the engine: control connections' endpoint lines rewritten byte for byte, data
/// connections admitted by expectations, and the rest of each connection's sequence numbers moved
/// by what the rewrites changed (the endpoints are modelled: each side's bytes must arrive
/// contiguous in the other's numbering, and every acknowledgement must name the sender's own).
/// </summary>
public sealed class FtpHelperTests
{
    private static readonly ProxyReference Ftp = new(21, "ftp", "tcp");
    private const ushort ClientPort = 40000;

    private static Lab ActiveLab(FilteringBehavior filtering = FilteringBehavior.AddressDependent)
    {
        var policy = NatPolicy.Default with { TcpFiltering = filtering };
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External, policy: policy) with { Proxy = Ftp });
        return lab;
    }

    private static Lab PassiveLab()
    {
        var lab = new Lab();
        lab.Engine.AddRule(new NatRule
        {
            Kind = NatRuleKind.Redirect,
            Protocols = RuleProtocols.Tcp,
            Destination = Ipv4Prefix.Host(Lab.External),
            DestinationPorts = PortMatch.Exactly(21),
            RedirectTargets = [Lab.InsideB],
            RedirectPort = 21,
            Proxy = Ftp,
        });
        return lab;
    }

    /// <summary>A TCP segment with its own sequence and acknowledgement numbers, and options before the data.</summary>
    internal static byte[] Segment(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort, TcpFlags flags,
        uint sequence, uint acknowledgement, string data = "", byte[]? options = null)
    {
        options ??= [];
        byte[] payload = [.. options, .. Encoding.ASCII.GetBytes(data)];
        var buffer = new byte[Ipv4Packet.MinimumHeaderLength + TcpSegment.MinimumHeaderLength + payload.Length];
        Ipv4PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, flags, sequence, acknowledgement, payload);
        if (options.Length > 0)
        {
            Span<byte> segment = buffer.AsSpan(Ipv4Packet.MinimumHeaderLength);
            segment[TcpSegment.Field.DataOffset] = (byte)((TcpSegment.MinimumHeaderLength + options.Length) / 4 << 4);
            BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..], TransportChecksum.ComputeIpv4(source, destination, IpProtocol.Tcp, segment));
        }
        return buffer;
    }

    internal static (uint Sequence, uint Acknowledgement, string Data, byte[] Options) Read(byte[] packet)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(packet.Length, ip.TotalLength);
        Assert.Equal(PacketError.None, TcpSegment.TryParse(ip.Payload, out TcpSegment segment));
        return (segment.SequenceNumber, segment.AcknowledgmentNumber, Encoding.ASCII.GetString(segment.Payload), segment.Options.ToArray());
    }

    /// <summary>
    /// One control connection through the lab: the inside end and the outside end each keep their own
    /// numbering, and check what reaches them against what the other sent.
    /// </summary>
    private sealed class Conversation
    {
        private readonly Lab lab;
        private readonly Ipv4Address inside, outside;
        private readonly ushort insidePort, outsidePort;
        private readonly Ipv4Address outsideSeesInside;
        private readonly ushort outsideSeesInsidePort;
        private readonly Ipv4Address insideSeesOutside;
        private readonly ushort insideSeesOutsidePort;

        // Each side's next sequence number in its own numbering, and the next it expects from the other in its numbering.
        private uint insideNext = 4_294_967_000; // wraps during the test
        private uint outsideNext = 90_000;
        private uint insideExpects;
        private uint outsideExpects;

        public StringBuilder OutsideReceived { get; } = new();
        public StringBuilder InsideReceived { get; } = new();

        /// <summary>Opens the connection: from inside (a client behind a map) or from outside (a client to an rdr'ed server).</summary>
        public Conversation(Lab lab, bool fromInside, Ipv4Address inside, ushort insidePort, Ipv4Address outside, ushort outsidePort, ushort externalPort)
        {
            this.lab = lab;
            (this.inside, this.insidePort, this.outside, this.outsidePort) = (inside, insidePort, outside, outsidePort);
            if (fromInside)
            {
                byte[] syn = lab.Forward(Segment(inside, insidePort, outside, outsidePort, TcpFlags.Syn, insideNext - 1, 0));
                (outsideSeesInside, outsideSeesInsidePort, _, _) = Lab.Tuple(syn);
                (insideSeesOutside, insideSeesOutsidePort) = (outside, outsidePort);
                outsideExpects = insideNext;
                byte[] synAck = lab.Forward(Segment(outside, outsidePort, outsideSeesInside, outsideSeesInsidePort, TcpFlags.Syn | TcpFlags.Ack, outsideNext - 1, outsideExpects));
                Assert.Equal(insideNext, Read(synAck).Acknowledgement);
                insideExpects = outsideNext;
            }
            else
            {
                byte[] syn = lab.Forward(Segment(outside, outsidePort, Lab.External, externalPort, TcpFlags.Syn, outsideNext - 1, 0));
                (_, _, Ipv4Address target, ushort targetPort) = Lab.Tuple(syn);
                Assert.Equal((inside, insidePort), (target, targetPort));
                (outsideSeesInside, outsideSeesInsidePort) = (Lab.External, externalPort);
                (insideSeesOutside, insideSeesOutsidePort) = (outside, outsidePort);
                insideExpects = outsideNext;
                byte[] synAck = lab.Forward(Segment(inside, insidePort, outside, outsidePort, TcpFlags.Syn | TcpFlags.Ack, insideNext - 1, insideExpects));
                Assert.Equal(outsideNext, Read(synAck).Acknowledgement);
                outsideExpects = insideNext;
            }
        }

        /// <summary>The inside end sends <paramref name="data"/>; returns what the outside end receives, checked in order and acknowledging what the inside end had.</summary>
        public byte[] InsideSends(string data, uint? sequence = null, byte[]? options = null)
        {
            uint sent = sequence ?? insideNext;
            byte[] output = lab.Forward(Segment(inside, insidePort, insideSeesOutside, insideSeesOutsidePort, TcpFlags.Ack | TcpFlags.Psh, sent, insideExpects, data, options));
            (uint arrivedSequence, uint acknowledgement, string arrived, _) = Read(output);
            Assert.Equal(outsideNext, acknowledgement); // the inside end acknowledged all the outside end sent
            if (sequence is null)
            {
                Assert.Equal(outsideExpects, arrivedSequence); // contiguous in the outside end's numbering
                outsideExpects += (uint)Encoding.ASCII.GetByteCount(arrived);
                insideNext += (uint)data.Length;
                OutsideReceived.Append(arrived);
            }
            return output;
        }

        /// <summary>The outside end sends <paramref name="data"/> (acknowledging all it got); returns what the inside end receives.</summary>
        public byte[] OutsideSends(string data, byte[]? options = null)
        {
            byte[] output = lab.Forward(Segment(outside, outsidePort, outsideSeesInside, outsideSeesInsidePort, TcpFlags.Ack | TcpFlags.Psh, outsideNext, outsideExpects, data, options));
            (uint arrivedSequence, uint acknowledgement, string arrived, _) = Read(output);
            Assert.Equal(insideNext, acknowledgement); // in the inside end's own numbering, whatever the rewrites did
            Assert.Equal(insideExpects, arrivedSequence);
            insideExpects += (uint)Encoding.ASCII.GetByteCount(arrived);
            outsideNext += (uint)data.Length;
            InsideReceived.Append(arrived);
            return output;
        }

        /// <summary>The outside end's acknowledgement with a SACK block of its own numbering; returns the block as the inside end reads it.</summary>
        public (uint Left, uint Right) OutsideSelectivelyAcknowledges(uint left, uint right)
        {
            byte[] options = [1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0];
            BinaryPrimitives.WriteUInt32BigEndian(options.AsSpan(4), left);
            BinaryPrimitives.WriteUInt32BigEndian(options.AsSpan(8), right);
            byte[] output = lab.Forward(Segment(outside, outsidePort, outsideSeesInside, outsideSeesInsidePort, TcpFlags.Ack, outsideNext, outsideExpects, "", options));
            byte[] arrived = Read(output).Options;
            return (BinaryPrimitives.ReadUInt32BigEndian(arrived.AsSpan(4)), BinaryPrimitives.ReadUInt32BigEndian(arrived.AsSpan(8)));
        }

        public uint InsideNext => insideNext;

        public uint OutsideExpects => outsideExpects;
    }

    private static (Ipv4Address Address, ushort Port) PortArguments(string line)
    {
        string[] numbers = line[(line.IndexOfAny("0123456789".ToCharArray(), 4))..].TrimEnd('\r', '\n', ')', '.').Split(',');
        Assert.Equal(6, numbers.Length);
        byte[] values = [.. numbers.Select(number => byte.Parse(number, CultureInfo.InvariantCulture))];
        return (new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(values)), (ushort)(values[4] << 8 | values[5]));
    }

    private static int AllocatedTcpPorts(Lab lab)
        => lab.Engine.PortUsage().Single(usage => usage.Address == (IpAddress)Lab.External && usage.Protocol == IpProtocol.Tcp).Allocated;

    [Theory]
    [InlineData(FilteringBehavior.EndpointIndependent)]
    [InlineData(FilteringBehavior.AddressDependent)]
    [InlineData(FilteringBehavior.AddressAndPortDependent)]
    public void Active_mode_a_port_command_names_the_external_address_and_the_server_reaches_the_client_under_any_filtering(FilteringBehavior filtering)
    {
        Lab lab = ActiveLab(filtering);
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        control.OutsideSends("220 ready\r\n");
        byte[] port = control.InsideSends("PORT 10,0,0,2,195,80\r\n");
        Lab.AssertValid(port);
        string line = Read(port).Data;
        Assert.StartsWith("PORT 198,51,100,10,", line, StringComparison.Ordinal);
        Assert.EndsWith("\r\n", line, StringComparison.Ordinal);
        (Ipv4Address address, ushort mapped) = PortArguments(line);
        Assert.Equal(Lab.External, address);
        Assert.Equal(1, lab.Engine.FtpStatistics.PendingExpectations);

        // The server opens the data connection from port 20 to what the line named: it reaches the client's port.
        byte[] dataSyn = lab.Forward(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        Assert.Equal((Lab.Remote, (ushort)20, Lab.InsideA, (ushort)50000), Lab.Tuple(dataSyn));
        byte[] dataSynAck = lab.Forward(Segment(Lab.InsideA, 50000, Lab.Remote, 20, TcpFlags.Syn | TcpFlags.Ack, 8000, 7001));
        Assert.Equal((Lab.External, mapped, Lab.Remote, (ushort)20), Lab.Tuple(dataSynAck));
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
        Assert.Equal(1, lab.Engine.FtpStatistics.DataConnections);

        // One connection per expectation: another from the server to the same port is unsolicited.
        Assert.Equal(DropReason.NoSession, lab.Dropped(Segment(Lab.Remote, 2020, Lab.External, mapped, TcpFlags.Syn, 9000, 0)));
    }

    [Fact]
    public void Active_mode_an_extended_port_command_is_rewritten_too()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        string line = Read(control.InsideSends("EPRT |1|10.0.0.2|50001|\r\n")).Data;
        Assert.StartsWith("EPRT |1|198.51.100.10|", line, StringComparison.Ordinal);
        ushort mapped = ushort.Parse(line.Split('|')[3], CultureInfo.InvariantCulture);
        byte[] dataSyn = lab.Forward(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        Assert.Equal((Lab.InsideA, (ushort)50001), (Lab.Tuple(dataSyn).Destination, Lab.Tuple(dataSyn).DestinationPort));
    }

    [Fact]
    public void Sequence_and_acknowledgement_numbers_follow_the_length_changes_both_ways_over_many_segments()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        var random = new Random(14);
        int rewrites = 0;
        for (int round = 0; round < 60; round++)
        {
            switch (random.Next(4))
            {
                case 0:
                    // 10,0,0,2 becomes 198,51,100,10: five bytes longer, and the port's digits may change too.
                    control.InsideSends($"PORT 10,0,0,2,{random.Next(4, 250)},{random.Next(0, 256)}\r\n");
                    rewrites++;
                    break;
                case 1:
                    control.InsideSends(new string('x', random.Next(1, 40)) + "\r\n");
                    break;
                default:
                    control.OutsideSends($"200 {new string('y', random.Next(0, 60))}\r\n");
                    break;
            }
        }
        Assert.Equal(rewrites, lab.Engine.FtpStatistics.Rewritten);
        Assert.True(rewrites > 5);
        Assert.DoesNotContain("10,0,0,2", control.OutsideReceived.ToString(), StringComparison.Ordinal);

        // SACK edges name the outside end's numbering and reach the inside end in its own.
        (uint left, uint right) = control.OutsideSelectivelyAcknowledges(control.OutsideExpects + 100, control.OutsideExpects + 200);
        Assert.Equal((control.InsideNext + 100, control.InsideNext + 200), (left, right));
    }

    [Fact]
    public void A_retransmitted_port_command_is_rewritten_the_same_way_and_moves_nothing_twice()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        uint sequence = control.InsideNext;
        byte[] first = control.InsideSends("PORT 10,0,0,2,195,80\r\n");
        byte[] again = control.InsideSends("PORT 10,0,0,2,195,80\r\n", sequence);
        Assert.Equal(Convert.ToHexString(first), Convert.ToHexString(again));
        Assert.Equal(1, lab.Engine.FtpStatistics.PendingExpectations);
        control.InsideSends("NOOP\r\n"); // checks its sequence number moved once
    }

    [Fact]
    public void A_command_split_across_segments_passes_untouched_and_the_next_whole_one_is_rewritten()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        Assert.Equal("PO", Read(control.InsideSends("PO")).Data);
        Assert.Equal("RT 10,0,0,2,195,80\r\n", Read(control.InsideSends("RT 10,0,0,2,195,80\r\n")).Data);
        Assert.Equal(0, lab.Engine.FtpStatistics.Rewritten);
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
        // A line split after its end-of-line: the first segment ends a line, the second starts one.
        Assert.Equal("NOOP\r\nPORT 10,0,0,2", Read(control.InsideSends("NOOP\r\nPORT 10,0,0,2")).Data);
        Assert.Equal(",195,81\r\n", Read(control.InsideSends(",195,81\r\n")).Data);
        Assert.StartsWith("PORT 198,51,100,10,", Read(control.InsideSends("PORT 10,0,0,2,195,82\r\n")).Data, StringComparison.Ordinal);
        Assert.Equal(1, lab.Engine.FtpStatistics.Rewritten);
    }

    [Fact]
    public void A_port_command_naming_another_host_passes_untouched_and_opens_nothing()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        Assert.Equal("PORT 10,0,0,3,195,80\r\n", Read(control.InsideSends("PORT 10,0,0,3,195,80\r\n")).Data);
        Assert.Equal(1, lab.Engine.FtpStatistics.LeftAlone);
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
    }

    [Fact]
    public void An_expectation_admits_only_the_control_connections_remote_and_times_out_giving_its_port_back()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        int before = AllocatedTcpPorts(lab);
        (_, ushort mapped) = PortArguments(Read(control.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data);
        Assert.Equal(before + 1, AllocatedTcpPorts(lab));
        Assert.Equal(DropReason.NoSession, lab.Dropped(Segment(Lab.OtherRemote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0)));
        lab.Advance(TimeSpan.FromMinutes(6));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
        Assert.Equal(1, lab.Engine.FtpStatistics.ExpectationsTimedOut);
        Assert.Equal(before, AllocatedTcpPorts(lab));
        Assert.Equal(DropReason.NoSession, lab.Dropped(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0)));
    }

    [Fact]
    public void Ports_go_back_when_the_control_and_data_sessions_end()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        int before = AllocatedTcpPorts(lab);
        (_, ushort mapped) = PortArguments(Read(control.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data);
        lab.Forward(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        control.InsideSends("PORT 10,0,0,2,195,81\r\n"); // pending when everything is flushed
        Assert.Equal(before + 2, AllocatedTcpPorts(lab));
        lab.Engine.FlushSessions(lab.Now);
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
        Assert.Equal(0, lab.Engine.FtpStatistics.ControlConnections);
        Assert.Equal(0, AllocatedTcpPorts(lab));
    }

    [Fact]
    public void With_a_partial_checksum_the_rewritten_segment_carries_the_pseudo_header_sum_of_its_new_length()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        byte[] packet = Segment(Lab.InsideA, ClientPort, Lab.Remote, 21, TcpFlags.Ack | TcpFlags.Psh, control.InsideNext, 90_000, "PORT 10,0,0,2,195,80\r\n");
        int transportLength = packet.Length - Ipv4Packet.MinimumHeaderLength;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(Ipv4Packet.MinimumHeaderLength + TcpSegment.Field.Checksum),
            InternetChecksum.PseudoHeaderSum(Lab.InsideA, Lab.Remote, IpProtocol.Tcp, transportLength));
        var buffer = new byte[4096];
        packet.CopyTo(buffer, 0);
        TranslationResult result = lab.Engine.Translate(buffer, packet.Length, lab.Now, checksumPartial: true);
        Assert.Equal(Verdict.Forward, result.Verdict);
        byte[] output = buffer[..result.Length];
        Assert.Equal(packet.Length + 5, output.Length); // 10,0,0,2 -> 198,51,100,10, the port kept
        Assert.StartsWith("PORT 198,51,100,10,", Read(output).Data, StringComparison.Ordinal);
        Span<byte> transport = output.AsSpan(Ipv4Packet.MinimumHeaderLength);
        Assert.Equal(InternetChecksum.PseudoHeaderSum(Lab.External, Lab.Remote, IpProtocol.Tcp, transport.Length),
            BinaryPrimitives.ReadUInt16BigEndian(transport[TcpSegment.Field.Checksum..]));
        // Completed as the kernel completes it: valid, and the IP header's too.
        BinaryPrimitives.WriteUInt16BigEndian(transport[TcpSegment.Field.Checksum..], InternetChecksum.Compute(transport));
        Lab.AssertValid(output);
        Assert.True(Ipv4Packet.TryParse(output, out Ipv4Packet ip) == PacketError.None && ip.IsHeaderChecksumValid);
    }

    [Fact]
    public void A_segment_with_no_room_to_grow_passes_untouched()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        byte[] packet = Segment(Lab.InsideA, ClientPort, Lab.Remote, 21, TcpFlags.Ack | TcpFlags.Psh, control.InsideNext, 90_000, "PORT 10,0,0,2,195,80\r\n");
        byte[] buffer = [.. packet]; // no byte to spare
        TranslationResult result = lab.Engine.Translate(buffer, packet.Length, lab.Now);
        Assert.Equal(packet.Length, result.Length);
        Assert.Equal("PORT 10,0,0,2,195,80\r\n", Read(buffer).Data);
        Lab.AssertValid(buffer);
        Assert.Equal(1, lab.Engine.FtpStatistics.LeftAlone);
    }

    [Fact]
    public void A_damaged_segment_is_not_rewritten_and_stays_damaged_and_its_retransmission_is()
    {
        Lab lab = ActiveLab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        byte[] packet = Segment(Lab.InsideA, ClientPort, Lab.Remote, 21, TcpFlags.Ack | TcpFlags.Psh, control.InsideNext, 90_000, "PORT 10,0,0,2,195,80\r\n");
        packet[^3] ^= 0x01; // "80" becomes "81" after the checksum was computed
        (TranslationResult result, byte[] output) = lab.Send(packet);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal("PORT 10,0,0,2,195,81\r\n", Read(output).Data);
        Assert.True(Ipv4Packet.TryParse(output, out Ipv4Packet ip) == PacketError.None);
        Assert.False(TransportChecksum.IsValid(ip));
        Assert.Equal(0, lab.Engine.FtpStatistics.PendingExpectations);
        // Its retransmission, whole, is read and rewritten (the damaged copy moved nothing on).
        Assert.StartsWith("PORT 198,51,100,10,", Read(control.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data, StringComparison.Ordinal);
    }

    [Fact]
    public void Passive_mode_to_an_inside_server_the_227_reply_names_the_external_address_and_the_client_reaches_the_server()
    {
        Lab lab = PassiveLab();
        var control = new Conversation(lab, fromInside: false, Lab.InsideB, 21, Lab.Remote, 33000, 21);
        control.InsideSends("220 ready\r\n");
        control.OutsideSends("PASV\r\n");
        byte[] reply = control.InsideSends("227 Entering Passive Mode (10,0,0,3,200,1).\r\n");
        Lab.AssertValid(reply);
        string line = Read(reply).Data;
        Assert.StartsWith("227 Entering Passive Mode (198,51,100,10,", line, StringComparison.Ordinal);
        Assert.EndsWith(").\r\n", line, StringComparison.Ordinal);
        (Ipv4Address address, ushort mapped) = PortArguments(line);
        Assert.Equal(Lab.External, address);

        Assert.Equal(DropReason.NoSession, lab.Dropped(Segment(Lab.OtherRemote, 33001, Lab.External, mapped, TcpFlags.Syn, 7000, 0)));
        byte[] dataSyn = lab.Forward(Segment(Lab.Remote, 33001, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        Assert.Equal((Lab.Remote, (ushort)33001, Lab.InsideB, (ushort)51201), Lab.Tuple(dataSyn));
        byte[] dataSynAck = lab.Forward(Segment(Lab.InsideB, 51201, Lab.Remote, 33001, TcpFlags.Syn | TcpFlags.Ack, 8000, 7001));
        Assert.Equal((Lab.External, mapped, Lab.Remote, (ushort)33001), Lab.Tuple(dataSynAck));

        // The control connection goes on in step after the five bytes the reply grew by.
        control.OutsideSends("RETR file\r\n");
        control.InsideSends("150 Opening data connection.\r\n");
    }

    [Fact]
    public void Passive_mode_to_an_inside_server_the_229_reply_gets_a_port_on_the_external_address()
    {
        Lab lab = PassiveLab();
        var control = new Conversation(lab, fromInside: false, Lab.InsideB, 21, Lab.Remote, 33000, 21);
        control.OutsideSends("EPSV\r\n");
        string line = Read(control.InsideSends("229 Entering Extended Passive Mode (|||51202|)\r\n")).Data;
        Assert.StartsWith("229 Entering Extended Passive Mode (|||", line, StringComparison.Ordinal);
        ushort mapped = ushort.Parse(line.Split('|')[3], CultureInfo.InvariantCulture);
        byte[] dataSyn = lab.Forward(Segment(Lab.Remote, 33002, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        Assert.Equal((Lab.InsideB, (ushort)51202), (Lab.Tuple(dataSyn).Destination, Lab.Tuple(dataSyn).DestinationPort));
    }

    [Fact]
    public void A_rule_without_the_helper_leaves_port_commands_alone()
    {
        var lab = new Lab();
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        Assert.Equal("PORT 10,0,0,2,195,80\r\n", Read(control.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data);
        Assert.Equal(default, lab.Engine.FtpStatistics);
    }

    [Fact]
    public void Only_the_connection_to_the_proxy_port_is_followed()
    {
        Lab lab = ActiveLab();
        var other = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 2121, 0);
        Assert.Equal("PORT 10,0,0,2,195,80\r\n", Read(other.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data);
        Assert.Equal(0, lab.Engine.FtpStatistics.ControlConnections);
    }

    [Fact]
    public void Control_connections_stay_off_the_offload_cache_and_the_rules_other_sessions_do_not()
    {
        Lab lab = ActiveLab();
        lab.Engine.UseOffload(new NatGate.Core.Offload.InMemorySessionOffload());
        var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
        control.InsideSends("USER anonymous\r\n"); // established from here
        Assert.Equal(0, lab.Engine.OffloadedSessionCount);
        Assert.Equal(1, lab.Engine.FtpStatistics.ControlConnections);

        // The rule's other connections (here to port 80) go to the cache as any would.
        new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort + 1, Lab.Remote, 80, 0).InsideSends("GET / HTTP/1.0\r\n");
        Assert.Equal(1, lab.Engine.OffloadedSessionCount);

        // So does a data connection, once established: its bulk need not cross the engine.
        (_, ushort mapped) = PortArguments(Read(control.InsideSends("PORT 10,0,0,2,195,80\r\n")).Data);
        lab.Forward(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Syn, 7000, 0));
        lab.Forward(Segment(Lab.InsideA, 50000, Lab.Remote, 20, TcpFlags.Syn | TcpFlags.Ack, 8000, 7001));
        lab.Forward(Segment(Lab.Remote, 20, Lab.External, mapped, TcpFlags.Ack, 7001, 8001));
        Assert.Equal(2, lab.Engine.OffloadedSessionCount);

        // The same handshake under a rule without the helper is offloaded once established: the test can tell.
        var plain = new Lab();
        plain.Engine.UseOffload(new NatGate.Core.Offload.InMemorySessionOffload());
        new Conversation(plain, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0).InsideSends("USER anonymous\r\n");
        Assert.Equal(1, plain.Engine.OffloadedSessionCount);
    }

    private static readonly Gen<string> ClientLine = Gen.OneOf(
        Gen.Select(Gen.Int[4, 249], Gen.Int[0, 255], (high, low) => $"PORT 10,0,0,2,{high},{low}\r\n"),
        Gen.Const("NOOP\r\n"),
        Gen.Int[1, 30].Select(length => $"STOR {new string('f', length)}\r\n"));

    [Fact]
    public void However_the_client_stream_is_cut_each_line_arrives_whole_and_exactly_the_readable_ones_are_rewritten()
    {
        Gen.Select(ClientLine.Array[1, 12], Gen.Int[1, 40].Array[1, 12], Gen.Int[1, 4]).Sample((lines, cuts, replyEvery) =>
        {
            Lab lab = ActiveLab();
            var control = new Conversation(lab, fromInside: true, Lab.InsideA, ClientPort, Lab.Remote, 21, 0);
            string stream = string.Concat(lines);
            var lineStarts = new HashSet<int>();
            for (int start = 0, index = 0; index < lines.Length; start += lines[index].Length, index++)
            {
                lineStarts.Add(start);
            }
            // Which lines the helper must rewrite: each PORT line alone in a segment that starts a line.
            var expected = new HashSet<int>();
            int position = 0;
            for (int segment = 0; position < stream.Length; segment++)
            {
                int end = Math.Min(stream.Length, position + cuts[segment % cuts.Length]);
                if (lineStarts.Contains(position))
                {
                    List<int> whole = [];
                    for (int start = 0, index = 0; index < lines.Length; start += lines[index].Length, index++)
                    {
                        if (start >= position && start + lines[index].Length <= end && lines[index].StartsWith("PORT", StringComparison.Ordinal))
                        {
                            whole.Add(index);
                        }
                    }
                    if (whole.Count == 1)
                    {
                        expected.Add(whole[0]);
                    }
                }
                control.InsideSends(stream[position..end]); // checks numbering and acknowledgements both ways
                if (segment % replyEvery == 0)
                {
                    control.OutsideSends("200 ok\r\n");
                }
                position = end;
            }
            string[] received = control.OutsideReceived.ToString().Split("\r\n")[..^1];
            Assert.Equal(lines.Length, received.Length);
            for (int index = 0; index < lines.Length; index++)
            {
                string sent = lines[index][..^2];
                if (expected.Contains(index))
                {
                    Assert.Matches(@"^PORT 198,51,100,10,\d{1,3},\d{1,3}$", received[index]);
                }
                else
                {
                    Assert.Equal(sent, received[index]);
                }
            }
            Assert.Equal(expected.Count, lab.Engine.FtpStatistics.Rewritten);
        });
    }
}
