// The IPv4 engine's names for the table's generic types. The flow table, its sessions and keys
// are generic over the address family (FlowKey<Ipv6Address> for IPv6); code that is IPv4 only
// writes the short names.
global using FlowKey = NatGate.Core.Sessions.FlowKey<NatGate.Core.Addressing.Ipv4Address>;
global using FlowTable = NatGate.Core.Sessions.FlowTable<NatGate.Core.Addressing.Ipv4Address>;
global using Session = NatGate.Core.Sessions.Session<NatGate.Core.Addressing.Ipv4Address>;
global using AddressPools = NatGate.Core.Translation.AddressPools<NatGate.Core.Addressing.Ipv4Address>;
global using ExternalAddressPool = NatGate.Core.Translation.ExternalAddressPool<NatGate.Core.Addressing.Ipv4Address>;
global using SessionStore = NatGate.Core.Translation.SessionStore<NatGate.Core.Addressing.Ipv4Address>;
