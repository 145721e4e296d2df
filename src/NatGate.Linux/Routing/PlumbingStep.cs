namespace NatGate.Linux.Routing;

/// <summary>One change to the host's networking, with the command that makes it and the one that undoes it.</summary>
public abstract record PlumbingStep
{
    private protected PlumbingStep()
    {
    }

    /// <summary>The change as a person would type it ("ip rule add ...", "sysctl -w ...").</summary>
    public abstract string Command { get; }

    /// <summary>How the change is undone, as a person would type it.</summary>
    public abstract string UndoCommand { get; }

    public sealed override string ToString() => Command;
}

/// <summary>
/// An <c>ip</c> command. When the thing it adds already exists (EEXIST, "File exists"), a
/// step with <see cref="ReplaceArguments"/> runs those instead; one without adopts what is
/// there, since its preference and table are NatGate's, and removes it on the way out.
/// </summary>
public sealed record IpStep : PlumbingStep
{
    public IpStep(IReadOnlyList<string> arguments, IReadOnlyList<string> undoArguments, IReadOnlyList<string>? replaceArguments = null)
    {
        Arguments = arguments;
        UndoArguments = undoArguments;
        ReplaceArguments = replaceArguments;
    }

    public IReadOnlyList<string> Arguments { get; }

    public IReadOnlyList<string> UndoArguments { get; }

    public IReadOnlyList<string>? ReplaceArguments { get; }

    public override string Command => "ip " + string.Join(' ', Arguments);

    public override string UndoCommand => "ip " + string.Join(' ', UndoArguments);
}

/// <summary>
/// A kernel parameter written through <c>/proc/sys</c>. Applying remembers the old value;
/// undoing writes it back if the step changed it.
/// </summary>
public sealed record SysctlStep : PlumbingStep
{
    /// <param name="path">The file under /proc/sys, such as "net/ipv4/conf/natgate0/rp_filter".</param>
    /// <param name="value">The value to write.</param>
    public SysctlStep(string path, string value)
    {
        Path = path;
        Value = value;
    }

    public string Path { get; }

    public string Value { get; }

    /// <summary>The sysctl(8) name: '/' becomes '.', and a '.' inside an interface name becomes '/'.</summary>
    public string Key => string.Create(Path.Length, Path, static (destination, path) =>
    {
        for (int index = 0; index < path.Length; index++)
        {
            destination[index] = path[index] switch { '/' => '.', '.' => '/', char other => other };
        }
    });

    public override string Command => $"sysctl -w {Key}={Value}";

    public override string UndoCommand => $"sysctl -w {Key}=<value before>";
}
