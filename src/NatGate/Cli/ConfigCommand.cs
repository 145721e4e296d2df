using System.CommandLine;
using NatGate.Configuration;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;

namespace NatGate.Cli;

/// <summary>natgate config check FILE: validates a configuration and lists the rules it stands for.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var configFile = new Argument<FileInfo>("file") { Description = "The configuration file (TOML, docs/natgate.example.toml)." };
        var check = new Command("check", "Check a configuration file without applying it, and list the rules it stands for.") { configFile };
        check.SetAction(parseResult =>
        {
            FileInfo file = parseResult.GetValue(configFile)!;
            try
            {
                GatewayConfiguration configuration = GatewayConfigurationFile.Load(file.FullName);
                IReadOnlyList<NatRule> rules = [.. configuration.NetNat.Compile(), .. configuration.Rules.Rules];
                Console.WriteLine($"{file.Name}: ok, {configuration.NetNat.Instances.Count} NAT instance(s), {configuration.NetNat.StaticMappings.Count} static mapping(s), {rules.Count} rule(s):");
                foreach (NatRule rule in rules)
                {
                    // The NetNat objects seen through the ipnat vocabulary, labelled with where each rule came from.
                    Console.WriteLine($"{IpnatPrinter.Print(rule).TrimEnd()}    # {rule.Label}");
                }
                foreach (string warning in configuration.Rules.Warnings)
                {
                    Console.Error.WriteLine(warning);
                }
                return 0;
            }
            catch (ConfigurationException error)
            {
                foreach (string problem in error.Problems)
                {
                    Console.Error.WriteLine(problem);
                }
                return ExitCodes.BadInput;
            }
        });
        return new Command("config", "Work with configuration files.") { check };
    }
}
