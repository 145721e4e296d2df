using NatGate.Linux.Interop;
using NatGate.Linux.Scheduling;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.Scheduling;

public sealed class BackgroundWorkTests
{
    [Fact]
    public void Background_work_lowers_only_the_calling_thread_and_puts_it_back()
    {
        Requires.Root(); // raising the priority back needs CAP_SYS_NICE
        int self = Libc.GetThreadId();
        int before = Libc.GetPriority(Libc.PriorityProcess, self);
        using (BackgroundWork.Begin())
        {
            Assert.Equal(BackgroundWork.Nice, Libc.GetPriority(Libc.PriorityProcess, self));
            // Another thread (the process's main one) is untouched.
            Assert.NotEqual(Environment.ProcessId, self);
            Assert.Equal(before, Libc.GetPriority(Libc.PriorityProcess, Environment.ProcessId));
        }
        Assert.Equal(before, Libc.GetPriority(Libc.PriorityProcess, self));
    }
}
