namespace NatGate.Linux.Routing;

/// <summary>What Linux accepts as an interface name (dev_valid_name in net/core/dev.c).</summary>
public static class InterfaceNames
{
    private static readonly System.Buffers.SearchValues<char> Forbidden = System.Buffers.SearchValues.Create("/ \t\n\r:");

    /// <summary>1 to 15 bytes (IFNAMSIZ less the terminating zero), no '/', ':' or white space, not "." or "..".</summary>
    public static bool IsValid(string? name)
        => !string.IsNullOrEmpty(name) && System.Text.Encoding.UTF8.GetByteCount(name) <= 15
            && name.AsSpan().IndexOfAny(Forbidden) < 0 && name is not ("." or "..");

    /// <summary>The interface's index in the calling thread's network namespace (if_nametoindex(3)); 0 when there is none of that name.</summary>
    public static int IndexOf(string name) => IsValid(name) ? (int)Interop.Libc.InterfaceNameToIndex(name) : 0;
}
