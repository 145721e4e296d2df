using System.Reflection;

namespace NatGate.Daemon;

/// <summary>The version this binary was built as (the project's Version), as `natgate --version` prints it.</summary>
internal static class BuildInformation
{
    public static string Version { get; } = Read();

    /// <summary>The .NET runtime the daemon runs on, e.g. "10.0.12".</summary>
    public static string Runtime => Environment.Version.ToString();

    private static string Read()
    {
        string? informational = typeof(BuildInformation).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        // The SDK appends "+<commit>" when it knows the source revision; the version is what precedes it.
        return informational is null ? "unknown" : informational.Split('+')[0];
    }
}
