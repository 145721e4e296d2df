using System.Text;

namespace NatGate.Demo;

/// <summary>
/// Standard output that outlives its terminal. Once the terminal is closed (SIGHUP), a write to
/// it fails with EIO; the demo still has a lab to remove, so the first failed write turns this
/// writer silent instead of throwing out of the teardown.
/// </summary>
internal sealed class TerminalWriter(TextWriter inner) : TextWriter
{
    private volatile bool gone;

    public override Encoding Encoding => inner.Encoding;

    public override IFormatProvider FormatProvider => inner.FormatProvider;

    public override void Write(char value) => Guard(() => inner.Write(value));

    public override void Write(string? value) => Guard(() => inner.Write(value));

    public override void Write(char[] buffer, int index, int count) => Guard(() => inner.Write(buffer, index, count));

    public override void WriteLine(string? value) => Guard(() => inner.WriteLine(value));

    public override void Flush() => Guard(inner.Flush);

    private void Guard(Action write)
    {
        if (gone)
        {
            return;
        }
        try
        {
            write();
        }
        catch (IOException)
        {
            gone = true;
        }
    }
}
