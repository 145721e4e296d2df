// The daemon and its control server run on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
