using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace NatGate.Linux.FastPath;

/// <summary>
/// libbpf's own messages (libbpf_set_print): by default it writes them to standard error, where
/// expected refusals ("Exclusivity flag on" when clsact exists already) would read as failures.
/// They are taken here instead: the calling thread keeps the last few, which a
/// <see cref="FastPathException"/> quotes (the verifier's verdict when a load fails), and
/// <see cref="FastPathProgram.LibbpfMessages"/> may have every one for a debug log.
/// </summary>
internal static unsafe partial class LibbpfMessages
{
    private const int Kept = 4;
    private const int LineSize = 1024;

    [ThreadStatic]
    private static Queue<string>? recent;

    private static int installed;

    public static Action<string>? Sink { get; set; }

    /// <summary>Routes libbpf's messages here, once per process.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref installed, 1) == 0)
        {
            _ = SetPrint(&Print);
        }
    }

    /// <summary>Forgets the calling thread's messages: called before an operation whose failure may quote them.</summary>
    public static void Clear() => recent?.Clear();

    /// <summary>The calling thread's last messages, joined; empty when there are none.</summary>
    public static string Recent() => recent is { Count: > 0 } ? string.Join(" | ", recent) : string.Empty;

    // libbpf_print_fn_t: int (*)(enum libbpf_print_level level, const char *, va_list). A va_list
    // parameter is a pointer on x86-64 (an array type) and passed by reference on arm64 (a struct
    // over 16 bytes, AAPCS64), so it arrives and is handed to vsnprintf as one pointer.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Print(int level, byte* format, nint arguments)
    {
        try
        {
            byte* buffer = stackalloc byte[LineSize];
            int length = FormatVariadic(buffer, LineSize, format, arguments);
            if (length <= 0)
            {
                return 0;
            }
            string message = Encoding.UTF8.GetString(buffer, Math.Min(length, LineSize - 1)).TrimEnd();
            if (message.Length == 0)
            {
                return 0;
            }
            recent ??= new Queue<string>(Kept);
            if (recent.Count == Kept)
            {
                recent.Dequeue();
            }
            recent.Enqueue(message);
            Sink?.Invoke(message);
        }
#pragma warning disable CA1031 // an exception must never unwind into libbpf's C frames
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        return 0;
    }

    [LibraryImport("libbpf.so.1", EntryPoint = "libbpf_set_print")]
    private static partial nint SetPrint(delegate* unmanaged[Cdecl]<int, byte*, nint, int> print);

    [LibraryImport("libc", EntryPoint = "vsnprintf")]
    private static partial int FormatVariadic(byte* buffer, nuint size, byte* format, nint arguments);
}
