namespace NatGate.Linux.Tests.Namespaces;

/// <summary>Preconditions of the end-to-end tests: skipped loudly without root, failed in CI.</summary>
internal static class Requires
{
    /// <summary>Skips the test unless the process is root; with CI=true it fails instead, so CI never passes by skipping.</summary>
    public static void Root()
    {
        if (Environment.IsPrivilegedProcess)
        {
            return;
        }
        const string Need = "this test needs root (CAP_NET_ADMIN) for network namespaces and /dev/net/tun; run ./test.sh as root.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("NOT ROOT under CI=true, so failing instead of skipping: " + Need);
        }
        Assert.Skip("SKIPPED: " + Need);
    }
}
