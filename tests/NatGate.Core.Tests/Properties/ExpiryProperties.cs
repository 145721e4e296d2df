using CsCheck;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Properties.NatHarness;

namespace NatGate.Core.Tests.Properties;

/// <summary>UDP sessions expire when a simple model says they should, within two seconds.</summary>
public sealed class ExpiryProperties
{
    /// <summary>0 create a flow, 1 outbound on a flow, 2 inbound on a flow, 3 advance time, 4 run the timers.</summary>
    private readonly record struct Step(int Kind, int Pick, long AdvanceTicks);

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (3, Gen.Int[0, 1000].Select(pick => new Step(0, pick, 0))),
        (3, Gen.Int[0, 1000].Select(pick => new Step(1, pick, 0))),
        (3, Gen.Int[0, 1000].Select(pick => new Step(2, pick, 0))),
        (4, Gen.OneOf(Gen.Long[0, 400 * TimeSpan.TicksPerSecond], Gen.Int[0, 400].Select(s => s * TimeSpan.TicksPerSecond), Gen.Long[0, 20_000 * TimeSpan.TicksPerSecond])
            .Select(ticks => new Step(3, 0, ticks))),
        (4, Gen.Const(new Step(4, 0, 0))));

    [Fact]
    public void Udp_sessions_expire_on_time_by_the_model()
    {
        Gen.Select(Mapping, Filtering, Gen.Bool, Gen.OneOf(Gen.Const(300), Gen.Int[120, 10_000]), StepGen.Array[1, 60], Gen.Long[0, TimeSpan.TicksPerSecond - 1])
            .Sample((mapping, filtering, inboundRefresh, timeoutSeconds, steps, startOffset) =>
        {
            long start = Start + startOffset;
            long timeout = timeoutSeconds * TimeSpan.TicksPerSecond;
            NatEngine engine = NewEngine(mapping, filtering,
                NatPolicy.Default with { UdpInboundRefresh = inboundRefresh, UdpIdleTimeout = TimeSpan.FromSeconds(timeoutSeconds) }, startTicks: start);
            byte[] buffer = new byte[BufferSize];
            long now = start;
            // Model: each live flow and the time of its last refresh.
            var live = new List<(Flow Flow, Tuple5 Translated, long Refreshed)>();
            int created = 0;
            var log = new List<string>();
            foreach (Step step in steps)
            {
                switch (step.Kind)
                {
                    case 0:
                        {
                            // Each new flow has an inside endpoint of its own, so it starts a session.
                            var flow = new Flow(IpProtocol.Udp, Inside(1 + (created % 200)), (ushort)(2000 + created), Remote(1 + (step.Pick % 5)), (ushort)(100 + (step.Pick % 3)), [1], false);
                            created++;
                            int length = WriteOutbound(buffer, flow);
                            TranslationResult result = Translate(engine, buffer, length, now, Verdict.Forward, $"create {flow}");
                            live.Add((flow, Read(buffer.AsSpan(0, result.Length)), now));
                            log.Add($"{Seconds(now - start)} create {flow}");
                            break;
                        }
                    case 1 or 2 when live.Count > 0:
                        {
                            int which = step.Pick % live.Count;
                            (Flow flow, Tuple5 translated, long refreshed) = live[which];
                            bool outbound = step.Kind == 1;
                            int length = outbound ? WriteOutbound(buffer, flow) : WriteReply(buffer, flow, translated);
                            TranslationResult result = Translate(engine, buffer, length, now, Verdict.Forward, $"{(outbound ? "outbound" : "inbound")} on {flow}");
                            Assert.Equal(outbound ? translated : flow.Outbound.Reverse(), Read(buffer.AsSpan(0, result.Length)));
                            if (outbound || inboundRefresh)
                            {
                                live[which] = (flow, translated, now);
                            }
                            log.Add($"{Seconds(now - start)} {(outbound ? "out" : "in")} {flow}");
                            break;
                        }
                    case 3:
                        now += step.AdvanceTicks;
                        break;
                    case 4:
                        {
                            engine.ExpireSessions(now);
                            log.Add($"{Seconds(now - start)} expire");
                            var present = engine.ListSessions(protocol: IpProtocol.Udp).Select(session => session.Original).ToHashSet();
                            Assert.Equal(engine.SessionCount, engine.ListSessions().Count);
                            for (int i = live.Count - 1; i >= 0; i--)
                            {
                                (Flow flow, _, long refreshed) = live[i];
                                Tuple5 o = flow.Outbound;
                                bool isPresent = present.Contains(new FlowKey(o.Protocol, o.Source, o.SourcePort, o.Destination, o.DestinationPort));
                                long deadline = refreshed + timeout;
                                if (now < deadline)
                                {
                                    Assert.True(isPresent, $"{flow} expired at {Seconds(now - start)} s, before its deadline {Seconds(deadline - start)} s\n{string.Join("\n", log)}");
                                }
                                else if (now >= deadline + (2 * TimeSpan.TicksPerSecond))
                                {
                                    Assert.False(isPresent, $"{flow} still there at {Seconds(now - start)} s, deadline {Seconds(deadline - start)} s\n{string.Join("\n", log)}");
                                }
                                if (!isPresent)
                                {
                                    live.RemoveAt(i);
                                }
                            }
                            Assert.Equal(live.Count, engine.SessionCount);
                            break;
                        }
                    default:
                        break;
                }
            }
        }, iter: 300);
    }

    private static string Seconds(long ticks) => (ticks / (double)TimeSpan.TicksPerSecond).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
}
