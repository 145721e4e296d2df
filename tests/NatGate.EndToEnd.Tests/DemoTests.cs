namespace NatGate.EndToEnd.Tests;

/// <summary>The README's first command, as a user runs it.</summary>
public sealed class DemoTests
{
    [Fact]
    public void The_demo_sends_every_kind_of_traffic_through_the_gateway_and_leaves_nothing_behind()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "traceroute", "python3");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        (int exitCode, string output, string error) = Host.Run(dotnet, [Path.Combine(AppContext.BaseDirectory, "natgate.dll"), "demo"], TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 0, output + error);
        foreach (string step in new[] { "HTTP download", "ping", "traceroute", "UDP both ways", "static mapping", "hairpinning" })
        {
            Assert.Contains(output.Split('\n'), line => line.StartsWith("ok", StringComparison.Ordinal) && line.Contains(step, StringComparison.Ordinal));
        }
        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
        Assert.Contains("Every namespace the demo made is gone.", output, StringComparison.Ordinal);
        // Its namespaces are named "ngdemo..."; other tests' labs may come and go meanwhile.
        Assert.DoesNotContain("ngdemo", Host.Check("ip", "netns", "list"), StringComparison.Ordinal);
    }
}
