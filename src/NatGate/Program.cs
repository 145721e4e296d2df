using System.CommandLine;
using NatGate.Cli;

var root = new RootCommand("NatGate: a user-space network address and port translator.");
root.Subcommands.Add(ConfigCommand.Create());
foreach (Command command in ControlCommands.Create())
{
    root.Subcommands.Add(command);
}
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
