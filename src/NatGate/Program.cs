using System.CommandLine;
using NatGate.Cli;

var root = new RootCommand("NatGate: a user-space network address and port translator.");
root.Subcommands.Add(ConfigCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(NatGate.Demo.DemoCommand.Create());
root.Subcommands.Add(ContainerCommands.Attach());
root.Subcommands.Add(ContainerCommands.Detach());
root.Subcommands.Add(CniCommand.Create());
foreach (Command command in ControlCommands.Create())
{
    root.Subcommands.Add(command);
}
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
