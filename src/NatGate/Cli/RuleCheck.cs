using NatGate.Core.Control;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Cli;

/// <summary>
/// `natgate rules check FILE` and `natgate ipnat -n -f FILE`: a dry run, with no daemon. The file
/// is parsed and then loaded into an engine of its own, so it meets every check a live load
/// would (the parser's file:line:column errors, then the engine's refusals), and nothing runs.
/// </summary>
internal static class RuleCheck
{
    public static async Task<int> RunAsync(string path, TextWriter output, TextWriter error, TextReader? input = null)
    {
        try
        {
            IpnatRules rules = path == "-"
                ? IpnatParser.Parse(await (input ?? Console.In).ReadToEndAsync().ConfigureAwait(false), "-")
                : IpnatParser.ParseFile(path);
            var engine = new NatEngine(new NatEngineOptions { Limits = new FlowTableLimits { MaximumSessions = 1 } }, 0);
            engine.LoadRules(rules.Rules);
            foreach (string warning in rules.Warnings)
            {
                await output.WriteLineAsync($"warning: {warning}").ConfigureAwait(false);
            }
            await output.WriteLineAsync($"{path}: {rules.Rules.Count} {(rules.Rules.Count == 1 ? "rule" : "rules")}, all accepted; nothing was loaded (a dry run).").ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (RuleSyntaxException syntax)
        {
            await error.WriteLineAsync(syntax.Message).ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (NatControlException refused)
        {
            await error.WriteLineAsync($"{path}: {refused.Errno}: {refused.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (Exception io) when (io is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"{path}: {io.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
    }
}
