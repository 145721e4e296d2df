// The IPv4 names of the table's generic types, as in NatGate.Core.
global using FlowKey = NatGate.Core.Sessions.FlowKey<NatGate.Core.Addressing.Ipv4Address>;
global using FlowTable = NatGate.Core.Sessions.FlowTable<NatGate.Core.Addressing.Ipv4Address>;
global using Session = NatGate.Core.Sessions.Session<NatGate.Core.Addressing.Ipv4Address>;
