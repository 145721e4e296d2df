using System.Diagnostics;
using NatGate.Core.Control;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// Issue 10, "Must show: Robustness": a million mutated packets, both ways, of every protocol the
/// engine meets, through <see cref="NatEngine.Translate"/> and <see cref="NatEngine.TranslateBatch"/>,
/// with time passing, expiry, locks, flushes, rule reloads and hairpinning switched along the way;
/// IPv4 NAT, NPTv6, NAT66 and NAT64 (issue 12) through one engine, as a dual-stack gateway runs.
/// No exception, tables whose every index agrees with their sessions
/// (<see cref="FlowTable{TAddress}.CheckConsistency"/>: IPv4's, NAT66's and NAT64's) after every 2,000
/// packets, and every packet accounted
/// for: each drop (and each refusal answered with an ICMP error) in its reason's counter, every
/// reason reached, each forward in a traffic counter, each held fragment released or counted when
/// it times out. Deterministic: one seed drives the traffic, the damage and the clock.
/// </summary>
public sealed class MutatedTrafficProperties(ITestOutputHelper output)
{
    private const int Packets = 1_000_000;
    private const int CheckEvery = 2_000;
    // REPLAY_SEED runs another seed, to look further; without it the replay is the same each run.
    private static readonly int Seed = int.Parse(Environment.GetEnvironmentVariable("REPLAY_SEED") ?? "20251010", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_million_mutated_packets_leave_the_table_consistent_and_every_packet_accounted_for()
    {
        var clock = Stopwatch.StartNew();
        var replay = new Replay(Seed);
        replay.Run(Packets, CheckEvery);
        clock.Stop();
        foreach (string line in replay.Summary())
        {
            output.WriteLine(line);
        }
        output.WriteLine($"{replay.Sent:N0} packets in {clock.Elapsed.TotalSeconds:F1} s");

        // One report for every kind of failure, so that one run shows them all.
        var failures = new List<string>();
        if (replay.Inconsistency is { } inconsistency)
        {
            failures.Add(inconsistency);
        }
        if (replay.ExceptionCount > 0)
        {
            failures.Add($"{replay.ExceptionCount:N0} exceptions; the first:\n{string.Join("\n\n", replay.Exceptions)}");
        }
        if (replay.AccountingProblems.Count > 0)
        {
            failures.Add($"packets not accounted for, as first seen:\n{string.Join("\n", replay.AccountingProblems)}");
        }
        if (replay.Inconsistency is null && replay.UnseenReasons.Any())
        {
            failures.Add($"no packet was dropped for {string.Join(", ", replay.UnseenReasons)}: the replay must reach every refusal");
        }
        if (replay.Inconsistency is null && replay.UnforwardedKinds.Any())
        {
            failures.Add($"no {string.Join(", ", replay.UnforwardedKinds)} packet was forwarded: the replay must reach every family's paths");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.True(replay.Sent >= Packets, $"only {replay.Sent:N0} packets sent");
    }

    /// <summary>The replay's state: the engine, the traffic, and the tally the engine's counters must match.</summary>
    private sealed class Replay
    {
        private const int Stride = 2048;
        private const int MaximumBatch = 64;

        private readonly Random random;
        private readonly NatEngine engine;
        private readonly FlowTable table;
        private readonly TrafficGenerator generator;
        private readonly PacketMutator mutator;
        private readonly byte[] buffer = new byte[Stride];
        private readonly byte[] original = new byte[Stride];
        private readonly byte[] slots = new byte[MaximumBatch * Stride];
        private readonly byte[] slotOriginals = new byte[MaximumBatch * Stride];
        private readonly int[] lengths = new int[MaximumBatch];
        private readonly bool[] partial = new bool[MaximumBatch];
        private readonly TranslationResult[] results = new TranslationResult[MaximumBatch];
        private readonly bool[] threw = new bool[MaximumBatch];
        private readonly (TrafficKind Kind, TrafficFamily Family, bool Mutated, bool Recordable, IpFlow Input, bool IcmpRequest)[] batchPackets
            = new (TrafficKind, TrafficFamily, bool, bool, IpFlow, bool)[MaximumBatch];
        private readonly long[] verdicts = new long[4];
        private readonly long[] drops = new long[Enum.GetValues<DropReason>().Length];
        private readonly long[,] kinds = new long[Enum.GetValues<TrafficFamily>().Length, Enum.GetValues<TrafficKind>().Length];
        private readonly long[,] forwardedKinds = new long[Enum.GetValues<TrafficFamily>().Length, Enum.GetValues<TrafficKind>().Length];
        private long now = ReplayStart;
        private long held;
        private long released;
        private long pieces;
        private long refusedOnRelease;
        private long mutated;
        private long withoutVerdict;
        private long batched;
        private int largestTable;
        private int largestNat66Table;
        private int largestNat64Table;
        private bool locked;
        private long nextExpiry;
        private long nextLockChange = 50_000;
        private long nextFlush = 150_000;
        private long nextRemoval = 10_000;
        private long nextReload = 300_000;
        private long nextPurge = 400_000;
        private long nextHairpinChange = 200_000;

        private static readonly long ReplayStart = new DateTime(2025, 10, 10, 0, 0, 0, DateTimeKind.Utc).Ticks;

        public Replay(int seed)
        {
            random = new Random(seed);
            engine = ReplayGateway.NewEngine(ReplayStart);
            table = ReplayGateway.TableOf(engine);
            generator = new TrafficGenerator(new Random(seed + 1));
            mutator = new PacketMutator(new Random(seed + 2));
        }

        public long Sent { get; private set; }

        public long ExceptionCount { get; private set; }

        public List<string> Exceptions { get; } = [];

        public List<string> AccountingProblems { get; } = [];

        /// <summary>What the checker found, if anything; the replay stops there, since what follows a corrupted table is noise.</summary>
        public string? Inconsistency { get; private set; }

        /// <summary>
        /// Kinds of traffic of IPv4, NAT66 and NAT64 that the engine never forwarded undamaged or
        /// damaged: the traffic no longer reaches that path (garbage and unsolicited packets may all be refused).
        /// </summary>
        public IEnumerable<string> UnforwardedKinds
            => from family in new[] { TrafficFamily.Ipv4, TrafficFamily.Nat66, TrafficFamily.Nat64 }
               from kind in new[] { TrafficKind.NewOutbound, TrafficKind.Continuation, TrafficKind.Reply, TrafficKind.IcmpError, TrafficKind.FirstFragment,
                   TrafficKind.LaterFragment, TrafficKind.Hairpin, TrafficKind.FromGateway }
               where forwardedKinds[(int)family, (int)kind] == 0 && !(family == TrafficFamily.Nat64 && kind == TrafficKind.FromGateway)
               select $"{family} {kind}";

        /// <summary>Drop reasons no packet of the replay had: the traffic no longer reaches some refusal.</summary>
        public IEnumerable<DropReason> UnseenReasons
            => Enum.GetValues<DropReason>().Where(reason => reason != DropReason.None && drops[(int)reason] == 0 && engine.Statistics().Drops.GetValueOrDefault(reason.ToString()) == 0);

        public void Run(int packets, int checkEvery)
        {
            long nextCheck = checkEvery;
            while (Sent < packets && Inconsistency is null)
            {
                RunControl();
                if (random.Next(40) == 0)
                {
                    SendBatch(1 + random.Next(MaximumBatch));
                }
                else
                {
                    SendOne();
                }
                if (Sent >= nextCheck)
                {
                    Check();
                    nextCheck += checkEvery;
                }
            }
            if (Inconsistency is null)
            {
                Check();
            }
        }

        /// <summary>About 4 ms a packet (over an hour in all), now and then a quiet spell of ten minutes.</summary>
        private void PassTime()
        {
            now += random.Next(8 * (int)TimeSpan.TicksPerMillisecond);
            if (random.Next(200_000) == 0)
            {
                now += TimeSpan.FromMinutes(10).Ticks;
            }
        }

        /// <summary>
        /// Between packets, as the daemon's timer and an operator would: expiry about every second
        /// of replay time; now and then a lock for a few thousand packets, a flush, a session
        /// removed by id, every rule reloaded (ipnat -C -f: the old rules' sessions live on as
        /// orphans), the orphans purged, hairpinning turned off and on.
        /// </summary>
        private void RunControl()
        {
            if (Sent >= nextExpiry)
            {
                nextExpiry = Sent + 100 + random.Next(300);
                Guard("ExpireSessions", () => engine.ExpireSessions(now));
            }
            if (Sent >= nextLockChange)
            {
                locked = !locked;
                nextLockChange = Sent + (locked ? 1_000 + random.Next(4_000) : 50_000 + random.Next(100_000));
                Guard("Lock", () => engine.Lock(locked));
            }
            if (locked)
            {
                return;
            }
            if (Sent >= nextFlush)
            {
                nextFlush = Sent + 150_000 + random.Next(200_000);
                Guard("FlushSessions", () => engine.FlushSessions(now));
            }
            if (Sent >= nextRemoval && engine.SessionCount > 0)
            {
                nextRemoval = Sent + 10_000 + random.Next(20_000);
                Guard("RemoveSession", () =>
                {
                    IReadOnlyList<SessionInfo> sessions = engine.ListSessions();
                    engine.RemoveSession(sessions[random.Next(sessions.Count)].Id, now);
                });
            }
            if (Sent >= nextReload)
            {
                nextReload = Sent + 200_000 + random.Next(200_000);
                Guard("ReplaceRules", () => engine.ReplaceRules([.. engine.ListRules().Where(rule => rule.Active).Select(rule => rule.Rule)]));
            }
            if (Sent >= nextPurge)
            {
                nextPurge = Sent + 100_000 + random.Next(200_000);
                Guard("PurgeOrphans", () => engine.PurgeOrphans(now));
            }
            if (Sent >= nextHairpinChange)
            {
                // Set-NetNatGlobal: hairpinning off for a while, then on again.
                bool disable = engine.Hairpinning != HairpinningMode.Disabled;
                nextHairpinChange = Sent + (disable ? 5_000 + random.Next(20_000) : 100_000 + random.Next(100_000));
                engine.Hairpinning = disable ? HairpinningMode.Disabled : HairpinningMode.ExternalSource;
            }
        }

        private void Guard(string where, Action action)
        {
            try
            {
                action();
            }
            catch (Exception exception)
            {
                RecordException($"{where} at packet {Sent:N0}", exception);
            }
        }

        private void RecordException(string what, Exception exception)
        {
            ExceptionCount++;
            if (Exceptions.Count < 3)
            {
                Exceptions.Add($"{what}: {exception}");
            }
        }

        /// <summary>Writes the next packet, damaged half the time; says whether its tuple is worth remembering if forwarded.</summary>
        private int NextPacket(Span<byte> into, out TrafficKind kind, out TrafficFamily family, out bool damaged, out bool recordable, out IpFlow input,
            out bool icmpRequest)
        {
            PassTime();
            int length = generator.Next(into, out kind, out family);
            kinds[(int)family, (int)kind]++;
            damaged = random.Next(2) == 0;
            if (damaged)
            {
                length = mutator.Mutate(into, length);
                mutated++;
            }
            input = default;
            icmpRequest = false;
            recordable = !damaged && kind is not (TrafficKind.IcmpError or TrafficKind.LaterFragment or TrafficKind.Ipv6 or TrafficKind.Garbage)
                && TrafficGenerator.TryReadFlow(into[..length], out input, out icmpRequest);
            return length;
        }

        private void SendOne()
        {
            int length = NextPacket(buffer, out TrafficKind kind, out TrafficFamily family, out bool damaged, out bool recordable, out IpFlow input, out bool icmpRequest);
            buffer.AsSpan(0, length).CopyTo(original);
            // Mostly a full buffer (room for an ICMP error); sometimes one just the packet's size, or a length that lies.
            Span<byte> span = buffer;
            int lengthArgument = length;
            switch (random.Next(200))
            {
                case 0:
                    lengthArgument = buffer.Length + 1;
                    break;
                case 1:
                    lengthArgument = -1;
                    break;
                case < 20:
                    span = buffer.AsSpan(0, length);
                    break;
                default:
                    break;
            }
            bool checksumPartial = random.Next(10) == 0;
            Sent++;
            TranslationResult result;
            try
            {
                result = engine.Translate(span, lengthArgument, now, checksumPartial);
            }
            catch (Exception exception)
            {
                RecordException($"Translate of packet {Sent:N0} ({family} {kind}{(damaged ? ", damaged" : "")}, length {lengthArgument}) {Convert.ToHexString(original, 0, length)}", exception);
                withoutVerdict++;
                return;
            }
            Account(result, span.Length, kind, family);
            if (recordable && result.Verdict == Verdict.Forward)
            {
                Record(input, buffer.AsSpan(0, result.Length), icmpRequest);
            }
            TakeReleased();
        }

        private void SendBatch(int count)
        {
            for (int i = 0; i < count; i++)
            {
                Span<byte> slot = slots.AsSpan(i * Stride, Stride);
                lengths[i] = NextPacket(slot, out TrafficKind kind, out TrafficFamily family, out bool damaged, out bool recordable, out IpFlow input,
                    out bool icmpRequest);
                batchPackets[i] = (kind, family, damaged, recordable, input, icmpRequest);
                partial[i] = random.Next(10) == 0;
                slot[..lengths[i]].CopyTo(slotOriginals.AsSpan(i * Stride));
            }
            Sent += count;
            batched += count;
            threw.AsSpan(0, count).Clear();
            try
            {
                engine.TranslateBatch(slots.AsSpan(0, count * Stride), Stride, 0, lengths.AsSpan(0, count), partial.AsSpan(0, count), results, now);
            }
            catch (Exception exception)
            {
                var packets = new List<string>();
                for (int i = 0; i < count; i++)
                {
                    packets.Add($"  {i}: {batchPackets[i].Family} {batchPackets[i].Kind}{(batchPackets[i].Mutated ? ", damaged" : "")}: {Convert.ToHexString(slotOriginals, i * Stride, Math.Min(lengths[i], 64))}");
                }
                RecordException($"TranslateBatch of packets {Sent - count + 1:N0} to {Sent:N0}:\n{string.Join("\n", packets)}\n", exception);
                // A batch hashes and prefetches every packet before it translates any: a throw
                // there leaves them all untranslated. Send them one by one, so each is still accounted for.
                for (int i = 0; i < count; i++)
                {
                    slotOriginals.AsSpan(i * Stride, lengths[i]).CopyTo(slots.AsSpan(i * Stride));
                    try
                    {
                        results[i] = engine.Translate(slots.AsSpan(i * Stride, Stride), lengths[i], now, partial[i]);
                    }
                    catch (Exception single)
                    {
                        RecordException($"Translate of batch packet {i}", single);
                        threw[i] = true;
                        withoutVerdict++;
                    }
                }
            }
            for (int i = 0; i < count; i++)
            {
                if (threw[i])
                {
                    continue;
                }
                Account(results[i], Stride, batchPackets[i].Kind, batchPackets[i].Family);
                if (batchPackets[i].Recordable && results[i].Verdict == Verdict.Forward)
                {
                    Record(batchPackets[i].Input, slots.AsSpan(i * Stride, results[i].Length), batchPackets[i].IcmpRequest);
                }
            }
            TakeReleased();
        }

        /// <summary>Remembers a forwarded packet's flow as it came in and as it left, for the generator to continue, answer and quote.</summary>
        private void Record(IpFlow input, Span<byte> forwarded, bool icmpRequest)
        {
            if (!TrafficGenerator.TryReadFlow(forwarded, out IpFlow output, out _))
            {
                return;
            }
            if (input.Source.IsIpv6 || output.Source.IsIpv6)
            {
                generator.Record(new ForwardedFlow(input, output, icmpRequest));
                return;
            }
            generator.Record(new Forwarded(new Tuple5(input.Protocol, input.Source.AsIpv4, input.SourcePort, input.Destination.AsIpv4, input.DestinationPort),
                new Tuple5(output.Protocol, output.Source.AsIpv4, output.SourcePort, output.Destination.AsIpv4, output.DestinationPort), icmpRequest));
        }

        /// <summary>Tallies a result as the engine's counters should: a drop, or a refusal answered with an ICMP error, under its reason.</summary>
        private void Account(TranslationResult result, int room, TrafficKind kind, TrafficFamily family)
        {
            verdicts[(int)result.Verdict]++;
            if (result.Verdict == Verdict.Forward)
            {
                forwardedKinds[(int)family, (int)kind]++;
            }
            switch (result.Verdict)
            {
                case Verdict.Drop or Verdict.Reply:
                    drops[(int)result.Reason]++;
                    if (result.Reason == DropReason.None)
                    {
                        Problem($"a {family} {kind} packet was {result.Verdict} with no reason");
                    }
                    break;
                case Verdict.Held:
                    held++;
                    break;
                default:
                    break;
            }
            if (result.Length < 0 || result.Length > room || (result.Verdict is Verdict.Drop or Verdict.Held && result.Length != 0))
            {
                Problem($"a {family} {kind} packet was {result.Verdict} with length {result.Length} (room {room})");
            }
        }

        /// <summary>
        /// Takes what the engine let go: held fragments released (each counted as it leaves), and
        /// NAT64's split pieces (counted with their packet). A fragment held as it came whose
        /// datagram turned out NAT64's is translated on its way out, and may be refused there: the
        /// engine counts that under its reason, and it is neither released nor timed out.
        /// </summary>
        private void TakeReleased()
        {
            if (!engine.HasReleasedPackets)
            {
                return;
            }
            IReadOnlyDictionary<string, long> dropsBefore = engine.Statistics().Drops;
            while (true)
            {
                bool piece = ReplayGateway.QueuedPiecesOf(engine) > 0;
                if (!engine.TryTakeReleasedPacket(buffer, out _))
                {
                    foreach ((string reason, long count) in engine.Statistics().Drops)
                    {
                        long refused = count - dropsBefore.GetValueOrDefault(reason);
                        drops[(int)Enum.Parse<DropReason>(reason)] += refused;
                        refusedOnRelease += refused;
                    }
                    return;
                }
                if (piece)
                {
                    pieces++;
                }
                else
                {
                    released++;
                }
            }
        }

        private void Problem(string problem)
        {
            if (AccountingProblems.Count < 10)
            {
                AccountingProblems.Add($"after {Sent:N0} packets: {problem}");
            }
        }

        /// <summary>The tables are consistent (else stop: what follows would be noise) and the counters match the tally.</summary>
        private void Check()
        {
            foreach ((string name, IReadOnlyList<string> inconsistencies) in new[]
            {
                ("IPv4", table.CheckConsistency(everySessionScheduled: true)),
                ("NAT66", ReplayGateway.Nat66TableOf(engine)?.CheckConsistency(everySessionScheduled: true) ?? []),
                ("NAT64", engine.CheckNat64Consistency()),
            })
            {
                if (inconsistencies.Count > 0)
                {
                    Inconsistency = $"after {Sent:N0} packets the {name} flow table is inconsistent:\n{string.Join("\n", inconsistencies)}";
                    return;
                }
            }
            largestTable = Math.Max(largestTable, engine.SessionCount);
            largestNat66Table = Math.Max(largestNat66Table, engine.Ipv6SessionCount);
            largestNat64Table = Math.Max(largestNat64Table, engine.Nat64SessionCount);
            int ruleSessions = engine.ListRules().Sum(rule => rule.Sessions);
            int tableSessions = engine.SessionCount + engine.Ipv6SessionCount + engine.Nat64SessionCount;
            if (ruleSessions != tableSessions)
            {
                Problem($"the rules count {ruleSessions} sessions but the tables hold {tableSessions} ({engine.SessionCount} IPv4, {engine.Ipv6SessionCount} NAT66, {engine.Nat64SessionCount} NAT64)");
            }
            // The counts metrics read, kept as sessions change, against a walk of every table.
            var walked = new Dictionary<(string Protocol, string State), int>();
            engine.CountSessions(0, engine.SessionSlots, walked);
            IReadOnlyDictionary<(string Protocol, string State), int> kept = engine.CountSessions();
            if (walked.Count != kept.Count || walked.Any(pair => kept.GetValueOrDefault(pair.Key) != pair.Value))
            {
                Problem($"the kept session counts ({string.Join(", ", kept.Select(pair => $"{pair.Key}={pair.Value}"))}) differ from the table's ({string.Join(", ", walked.Select(pair => $"{pair.Key}={pair.Value}"))})");
            }

            NatStatistics statistics = engine.Statistics();
            // A held fragment leaves by release, or by timing out, which the engine must count as a drop.
            long timedOut = held - released - refusedOnRelease - engine.HeldFragments;
            foreach (DropReason reason in Enum.GetValues<DropReason>())
            {
                if (reason == DropReason.None)
                {
                    continue;
                }
                long expected = drops[(int)reason] + (reason == DropReason.FragmentTimeout ? timedOut : 0);
                long counted = statistics.Drops.GetValueOrDefault(reason.ToString());
                if (counted != expected)
                {
                    Problem(reason == DropReason.FragmentTimeout
                        ? $"{timedOut} held fragments timed out (held {held}, released {released}, refused on release {refusedOnRelease}, still held {engine.HeldFragments}) but Drops[FragmentTimeout] is {counted}"
                        : $"{drops[(int)reason]} packets were dropped for {reason} but Drops[{reason}] is {counted}");
                }
            }
            long forwarded = verdicts[(int)Verdict.Forward] + released;
            long counters = statistics.MappedIn + statistics.MappedOut + statistics.Passed + statistics.IcmpErrorsTranslated + statistics.FragmentsTranslated;
            if (forwarded != counters)
            {
                Problem($"{forwarded} packets were forwarded (released fragments included) but mapped in + out + passed + ICMP errors + fragments count {counters}");
            }
            if (verdicts.Sum() + withoutVerdict != Sent)
            {
                Problem($"{Sent} packets sent but {verdicts.Sum()} verdicts and {withoutVerdict} exceptions");
            }
        }

        public IEnumerable<string> Summary()
        {
            NatStatistics statistics = engine.Statistics();
            yield return $"sent {Sent:N0} ({mutated:N0} damaged, {batched:N0} in batches); forward {verdicts[0]:N0}, drop {verdicts[1]:N0}, reply {verdicts[2]:N0}, held {verdicts[3]:N0}, released {released:N0}, NAT64 pieces {pieces:N0}, refused on release {refusedOnRelease:N0}";
            foreach (TrafficFamily family in Enum.GetValues<TrafficFamily>())
            {
                yield return $"{family}: " + string.Join(", ", Enum.GetValues<TrafficKind>().Where(kind => kinds[(int)family, (int)kind] > 0)
                    .Select(kind => $"{kind} {kinds[(int)family, (int)kind]:N0} ({forwardedKinds[(int)family, (int)kind]:N0} forwarded)"));
            }
            yield return "drops: " + string.Join(", ", statistics.Drops.Where(pair => pair.Value > 0).Select(pair => $"{pair.Key} {pair.Value:N0}"));
            yield return $"sessions added {statistics.Added:N0}, expired {statistics.Expired:N0}, removed {statistics.Removed:N0}; largest tables {largestTable:N0} IPv4 of {engine.Capacity:N0}, "
                + $"{largestNat66Table:N0} NAT66, {largestNat64Table:N0} NAT64; at the end {statistics.InUse:N0} ({statistics.InUseIpv6:N0} NAT66, {statistics.InUseNat64:N0} NAT64) in {statistics.Mappings:N0} mappings";
            yield return $"mapped out {statistics.MappedOut:N0}, in {statistics.MappedIn:N0}, passed {statistics.Passed:N0}, ICMP errors {statistics.IcmpErrorsTranslated:N0}, fragments {statistics.FragmentsTranslated:N0}; replay time {TimeSpan.FromTicks(now - ReplayStart)}";
        }
    }
}
