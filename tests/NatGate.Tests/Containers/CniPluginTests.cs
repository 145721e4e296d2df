using System.Text.Json.Nodes;
using NatGate.Containers.Cni;

namespace NatGate.Tests.Containers;

/// <summary>The CNI protocol's edges that need no daemon and no root: VERSION and the errors in the spec's form.</summary>
public sealed class CniPluginTests
{
    private const string Config = """{"cniVersion": "1.0.0", "name": "natgate", "type": "natgate-cni", "nat": "containers"}""";

    private static (int ExitCode, JsonNode Output) Call(Dictionary<string, string> environment, string input)
    {
        var plugin = new CniPlugin(name => environment.GetValueOrDefault(name));
        using var output = new StringWriter();
        int exitCode = plugin.RunAsync(input, output, CancellationToken.None).GetAwaiter().GetResult();
        return (exitCode, JsonNode.Parse(output.ToString())!);
    }

    private static Dictionary<string, string> Add() => new()
    {
        ["CNI_COMMAND"] = "ADD",
        ["CNI_CONTAINERID"] = "abc",
        ["CNI_NETNS"] = "/run/netns/nowhere",
        ["CNI_IFNAME"] = "eth0",
    };

    [Fact]
    public void Version_lists_the_supported_versions_in_the_callers_version()
    {
        (int exitCode, JsonNode output) = Call(new() { ["CNI_COMMAND"] = "VERSION" }, """{"cniVersion": "0.4.0"}""");
        Assert.Equal(0, exitCode);
        Assert.Equal("0.4.0", output["cniVersion"]!.GetValue<string>());
        Assert.Equal(["0.4.0", "1.0.0"], output["supportedVersions"]!.AsArray().Select(version => version!.GetValue<string>()));
    }

    [Theory]
    [InlineData("{ not json", 6)]
    [InlineData("[1, 2]", 6)]
    [InlineData("""{"name": "natgate", "nat": "containers"}""", 7)]
    [InlineData("""{"cniVersion": "0.2.0", "nat": "containers"}""", 1)]
    [InlineData("""{"cniVersion": "1.0.0", "type": "bridge", "nat": "containers"}""", 7)]
    [InlineData("""{"cniVersion": "1.0.0"}""", 7)]
    [InlineData("""{"cniVersion": "1.0.0", "nat": "containers", "runtimeConfig": {"portMappings": [{"hostPort": 0, "containerPort": 80}]}}""", 7)]
    [InlineData("""{"cniVersion": "1.0.0", "nat": "containers", "runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "sctp"}]}}""", 7)]
    public void A_bad_configuration_is_refused_with_the_specs_code(string input, int code)
    {
        (int exitCode, JsonNode output) = Call(Add(), input);
        Assert.Equal(1, exitCode);
        Assert.Equal(code, output["code"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(output["msg"]!.GetValue<string>()));
        Assert.NotNull(output["cniVersion"]);
    }

    [Theory]
    [InlineData("CNI_COMMAND", null)]
    [InlineData("CNI_COMMAND", "FROB")]
    [InlineData("CNI_CONTAINERID", null)]
    [InlineData("CNI_IFNAME", null)]
    [InlineData("CNI_IFNAME", "a-name-longer-than-15")]
    [InlineData("CNI_IFNAME", "eth/0")]
    [InlineData("CNI_NETNS", null)]
    public void A_missing_or_malformed_variable_is_code_4(string name, string? value)
    {
        Dictionary<string, string> environment = Add();
        if (value is null)
        {
            environment.Remove(name);
        }
        else
        {
            environment[name] = value;
        }
        (int exitCode, JsonNode output) = Call(environment, Config);
        Assert.Equal(1, exitCode);
        Assert.Equal(4, output["code"]!.GetValue<int>());
        Assert.Equal("1.0.0", output["cniVersion"]!.GetValue<string>());
    }
}
