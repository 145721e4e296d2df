namespace NatGate.EndToEnd.Tests;

/// <summary>
/// tcpdump on one interface of a lab namespace, written to a file; <see cref="Stop"/> ends it
/// and reads back the packets a filter picks, one line each. The safety tests read the outside
/// link with "src net INSIDE" and expect nothing.
/// </summary>
internal sealed class LinkCapture
{
    private readonly BackgroundProcess tcpdump;
    private readonly string file;

    private LinkCapture(BackgroundProcess tcpdump, string file)
    {
        this.tcpdump = tcpdump;
        this.file = file;
    }

    public static LinkCapture Start(GatewayLab lab, string space, string device)
    {
        string file = Path.Combine(lab.WorkDirectory, $"{space}-{device}-{Guid.NewGuid():N}.pcap");
        BackgroundProcess tcpdump = lab.Start(space, "tcpdump", "-i", device, "-n", "-U", "-s", "128", "-w", file);
        tcpdump.WaitFor("listening on", TimeSpan.FromSeconds(20));
        return new LinkCapture(tcpdump, file);
    }

    /// <summary>Stops the capture and returns the packets that match <paramref name="filter"/> (a pcap-filter expression).</summary>
    public IReadOnlyList<string> Stop(string filter)
    {
        Thread.Sleep(300); // what is in flight lands in the file
        tcpdump.Stop(TimeSpan.FromSeconds(10));
        (int exitCode, string output, string error) = Host.Run("tcpdump", ["-n", "-r", file, filter]);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"tcpdump -r {file} {filter} exited {exitCode}: {error}");
        }
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>Stops the capture and fails, listing them, if any packets match <paramref name="filter"/>.</summary>
    public void AssertNone(string filter, string what)
    {
        IReadOnlyList<string> found = Stop(filter);
        Assert.True(found.Count == 0, $"{what}:\n{string.Join('\n', found)}");
    }
}
