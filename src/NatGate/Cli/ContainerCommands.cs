using System.CommandLine;
using System.Globalization;
using NatGate.Containers;
using NatGate.Control;
using NatGate.Core.Control;

namespace NatGate.Cli;

/// <summary>
/// natgate attach and natgate detach: give a network namespace (a container's) an address on a
/// NAT instance's inside, behind the NAT's bridge, as WinNAT does for Windows containers.
/// </summary>
internal static class ContainerCommands
{
    private sealed class TargetOptions
    {
        public Argument<string?> Namespace { get; } = new("NETNS") { Description = "A named network namespace (ip netns), or a path to one.", Arity = ArgumentArity.ZeroOrOne };
        public Option<int?> Pid { get; } = new("--pid") { Description = "The network namespace of this process instead (/proc/PID/ns/net)." };
        public Option<string> Nat { get; } = new("--nat") { Description = "The NAT instance's name.", Required = true };
        public Option<string> Control { get; } = new("--control") { Description = "The daemon's control directory.", DefaultValueFactory = _ => ControlServer.DefaultDirectory };
        public Option<string> StateDirectory { get; } = new("--state-directory") { Description = "Where the leases are kept (leases/NAT.json); the daemon's --state-directory.", DefaultValueFactory = _ => StateFilePolicy.DefaultDirectory };

        public Command AddTo(Command command)
        {
            command.Arguments.Add(Namespace);
            command.Options.Add(Pid);
            command.Options.Add(Nat);
            command.Options.Add(Control);
            command.Options.Add(StateDirectory);
            return command;
        }

        /// <summary>The lease's owner and the namespace's path.</summary>
        public (string Owner, string Path) Target(ParseResult parseResult)
        {
            string? name = parseResult.GetValue(Namespace);
            int? pid = parseResult.GetValue(Pid);
            if ((name is null) == (pid is null))
            {
                throw new InputException("name either a network namespace (NETNS) or a process (--pid PID), one of the two");
            }
            if (pid is { } process)
            {
                if (process <= 0)
                {
                    throw new InputException($"--pid {process}: not a process id");
                }
                string id = process.ToString(CultureInfo.InvariantCulture);
                return ("pid:" + id, $"/proc/{id}/ns/net");
            }
            if (name!.Length == 0 || name is "." or "..")
            {
                throw new InputException($"'{name}' is not a network namespace name");
            }
            return ("netns:" + name, name.Contains('/', StringComparison.Ordinal) ? name : "/run/netns/" + name);
        }
    }

    public static Command Attach()
    {
        var target = new TargetOptions();
        var address = new Option<string?>("--address") { Description = "The address to give it (default: the lowest free one of the NAT's prefix)." };
        var interfaceName = new Option<string>("--interface") { Description = "The interface's name inside the namespace.", DefaultValueFactory = _ => "eth0" };
        Command command = target.AddTo(new Command("attach", "Connect a network namespace to a NAT instance: a veth on the NAT's bridge, an address from its prefix, a default route via its gateway.") { address, interfaceName });
        command.SetAction((parseResult, token) => RunAsync(parseResult, target, async (client, output) =>
        {
            (string owner, string path) = target.Target(parseResult);
            string natName = parseResult.GetValue(target.Nat)!;
            NatHostSide side = await ContainerAttachment.HostSideAsync(client, natName, token).ConfigureAwait(false);
            var request = new AttachRequest(side.NatName, owner, path, parseResult.GetValue(interfaceName)!, parseResult.GetValue(address), [], parseResult.GetValue(target.StateDirectory)!);
            ContainerLease lease = await ContainerAttachment.AttachAsync(client, side, request, token).ConfigureAwait(false);
            await output.WriteLineAsync($"attached {ContainerAttachment.Describe(owner)} to NAT {side.NatName}: {lease.Interface} {lease.Address}/{side.Prefix.Length.ToString(CultureInfo.InvariantCulture)} via {side.Gateway} (host end {lease.HostInterface} on {side.Bridge})").ConfigureAwait(false);
        }));
        return command;
    }

    public static Command Detach()
    {
        var target = new TargetOptions();
        Command command = target.AddTo(new Command("detach", "Disconnect a network namespace from a NAT instance: remove its veth and free its address (the bridge goes with the last)."));
        command.SetAction((parseResult, token) => RunAsync(parseResult, target, async (client, output) =>
        {
            (string owner, _) = target.Target(parseResult);
            string natName = parseResult.GetValue(target.Nat)!;
            (ContainerLease? freed, IReadOnlyList<string> warnings) = await ContainerAttachment.DetachAsync(client, natName, owner, parseResult.GetValue(target.StateDirectory)!, missingIsFine: false, token).ConfigureAwait(false);
            foreach (string warning in warnings)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("natgate: warning: " + warning).ConfigureAwait(false);
            }
            await output.WriteLineAsync($"detached {ContainerAttachment.Describe(owner)} from NAT {natName}: {freed!.Address} freed").ConfigureAwait(false);
        }));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parseResult, TargetOptions target, Func<ControlClient, TextWriter, Task> work)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        try
        {
            using ControlClient client = ControlClient.Connect(parseResult.GetValue(target.Control)!);
            await work(client, parseResult.InvocationConfiguration.Output).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (NatControlException refused)
        {
            await error.WriteLineAsync($"natgate: {refused.Errno}: {refused.Message}").ConfigureAwait(false);
            return ControlInvocation.ExitCodeOf(refused.Errno);
        }
        catch (InputException input)
        {
            await error.WriteLineAsync($"natgate: {input.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (Exception failure) when (failure is DaemonUnreachableException or ControlProtocolException or ContainerNetworkException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"natgate: {failure.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
