namespace NatGate.Core.Helpers.Ftp;

/// <summary>What the FTP helper has done since the start.</summary>
/// <param name="ControlConnections">FTP control connections it follows now.</param>
/// <param name="Rewritten">PORT, EPRT, 227 and 229 lines rewritten (a retransmission again).</param>
/// <param name="LeftAlone">Endpoint lines read and passed on untouched: two in one segment, naming another host, no room to grow, no port to give. (A line split across segments is never read.)</param>
/// <param name="PendingExpectations">Data connections expected now.</param>
/// <param name="DataConnections">Data connections admitted by an expectation.</param>
/// <param name="ExpectationsTimedOut">Expectations no data connection came for in time.</param>
public readonly record struct FtpHelperStatistics(int ControlConnections, long Rewritten, long LeftAlone, int PendingExpectations, long DataConnections, long ExpectationsTimedOut);
