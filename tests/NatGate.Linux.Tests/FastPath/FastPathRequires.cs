namespace NatGate.Linux.Tests.FastPath;

/// <summary>The fast path tests' tools: skipped loudly when one is missing, failed in CI (test.sh installs them).</summary>
internal static class FastPathRequires
{
    public static void Tools(params string[] tools)
    {
        string[] missing = [.. tools.Where(tool => !OnPath(tool))];
        if (missing.Length == 0)
        {
            return;
        }
        string need = $"this test needs {string.Join(", ", missing)}; ./test.sh installs them (clang, llvm, libbpf-dev, ethtool, tcpdump, python3).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("MISSING TOOLS under CI=true, so failing instead of skipping: " + need);
        }
        Assert.Skip("SKIPPED: " + need);
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Concat(["/usr/sbin", "/sbin"])
            .Any(directory => File.Exists(Path.Combine(directory, tool)));
}
