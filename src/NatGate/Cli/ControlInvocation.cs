using System.CommandLine;
using System.Text.Json;
using NatGate.Control;
using NatGate.Core.Control;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace NatGate.Cli;

/// <summary>
/// What a control command hands back: how to show it to a person, its JSON when that is not the
/// last reply's, and its exit code when the call succeeded but not all of the work went in.
/// </summary>
internal sealed record ControlReply(Action<IAnsiConsole> Render, string? Json = null, int ExitCode = ExitCodes.Success);

/// <summary>
/// The options every control command takes (--control, --json) and the one way they run: connect,
/// do the work, print a table or the API's JSON, and turn refusals into exit codes.
/// </summary>
internal sealed class ControlInvocation
{
    public Option<string> Control { get; } = new("--control")
    {
        Description = $"The daemon's control directory (holding {ControlServer.ReadWriteSocketName} and {ControlServer.ReadOnlySocketName}).",
        DefaultValueFactory = _ => ControlServer.DefaultDirectory,
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the daemon's JSON reply as the API returned it, for scripts.",
        Recursive = true,
    };

    /// <summary>Adds --control and --json to <paramref name="command"/> and its subcommands.</summary>
    public T AddTo<T>(T command)
        where T : Command
    {
        command.Options.Add(Control);
        command.Options.Add(Json);
        return command;
    }

    public void SetAction(Command command, Func<ParseResult, ControlClient, CancellationToken, Task<ControlReply>> work)
        => command.SetAction((parseResult, token) => RunAsync(parseResult, work, token));

    public async Task<int> RunAsync(ParseResult parseResult, Func<ParseResult, ControlClient, CancellationToken, Task<ControlReply>> work, CancellationToken token)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        bool json = parseResult.GetValue(Json);
        string directory = parseResult.GetValue(Control) ?? ControlServer.DefaultDirectory;
        using ControlClient client = ControlClient.Connect(directory);
        try
        {
            ControlReply reply = await work(parseResult, client, token).ConfigureAwait(false);
            if (json)
            {
                string? text = reply.Json ?? client.LastReplyJson;
                if (!string.IsNullOrEmpty(text))
                {
                    await output.WriteLineAsync(text).ConfigureAwait(false);
                }
            }
            else
            {
                reply.Render(ConsoleFor(output));
            }
            return reply.ExitCode;
        }
        catch (NatControlException refused)
        {
            if (json && client.LastReplyJson is { Length: > 0 } body)
            {
                await output.WriteLineAsync(body).ConfigureAwait(false);
            }
            await error.WriteLineAsync($"natgate: {refused.Errno}: {refused.Message}").ConfigureAwait(false);
            return ExitCodeOf(refused.Errno);
        }
        catch (DaemonUnreachableException unreachable)
        {
            await error.WriteLineAsync($"natgate: {unreachable.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (ControlProtocolException protocol)
        {
            await error.WriteLineAsync($"natgate: {protocol.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (InputException input)
        {
            await error.WriteLineAsync($"natgate: {input.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
    }

    public static int ExitCodeOf(NatErrno errno) => errno switch
    {
        NatErrno.EPERM or NatErrno.EACCES => ExitCodes.NotPermitted,
        NatErrno.EINVAL => ExitCodes.BadInput,
        _ => ExitCodes.Failure,
    };

    private const int UnwrappedWidth = 400;

    /// <summary>A Spectre console over the invocation's output (a terminal gets colour, anything else plain text).</summary>
    public static IAnsiConsole ConsoleFor(TextWriter output)
    {
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal)
        {
            // A pipe or a file has no width; Spectre would assume 80 and wrap rules and sessions mid-line.
            console.Profile.Width = UnwrappedWidth;
        }
        return console;
    }

    /// <summary>Reads a local file the command sends, or standard input for "-"; a missing or unreadable one is bad input.</summary>
    public static string ReadFile(string path)
    {
        if (path == "-")
        {
            return Console.In.ReadToEnd();
        }
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot read {path}: {failure.Message}");
        }
    }

    /// <summary>A table whose cells are plain text (never Spectre markup).</summary>
    public static Table Table(params string[] columns)
    {
        var table = new Table { Border = TableBorder.Rounded };
        foreach (string column in columns)
        {
            table.AddColumn(new TableColumn(new Text(column)));
        }
        return table;
    }

    public static void Row(Table table, params string[] cells) => table.AddRow([.. cells.Select(cell => (IRenderable)new Text(cell))]);

    public static ControlReply Say(string line) => new(console => console.WriteLine(line));

    public static string Plural(int count, string noun) => $"{count} {noun}{(count == 1 ? "" : "s")}";

    /// <summary>Combines several replies' JSON into one object, for commands that make several calls.</summary>
    public static string Combine(IEnumerable<(string Name, string? Json)> parts)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach ((string name, string? json) in parts)
            {
                writer.WritePropertyName(name);
                if (string.IsNullOrEmpty(json))
                {
                    writer.WriteNullValue();
                }
                else
                {
                    writer.WriteRawValue(json);
                }
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}

/// <summary>The command line or a file it names is wrong (exit code 2).</summary>
internal sealed class InputException : Exception
{
    public InputException()
    {
    }

    public InputException(string message)
        : base(message)
    {
    }

    public InputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
