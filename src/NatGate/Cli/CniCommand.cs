using System.CommandLine;
using NatGate.Containers.Cni;

namespace NatGate.Cli;

/// <summary>natgate cni: the CNI plugin (packaging/cni/natgate-cni runs it for container runtimes).</summary>
internal static class CniCommand
{
    public static Command Create()
    {
        var command = new Command("cni", "Run as a CNI plugin (spec 1.0.0): CNI_COMMAND and friends from the environment, the network configuration on stdin, the result on stdout.");
        command.SetAction(async (parseResult, token) =>
        {
            string input = await Console.In.ReadToEndAsync(token).ConfigureAwait(false);
            var plugin = new CniPlugin(System.Environment.GetEnvironmentVariable);
            return await plugin.RunAsync(input, parseResult.InvocationConfiguration.Output, token).ConfigureAwait(false);
        });
        return command;
    }
}
