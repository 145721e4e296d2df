using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// The libbpf calls the fast path's loader needs (libbpf1, the canonical ELF/BTF loader: issue 13
/// forbids a hand-written one). libbpf 1.x returns -errno from int functions and NULL with errno
/// set from pointer functions (libbpf.h, "LIBBPF_STRICT_ALL" is the default since 1.0). The
/// option structs mirror libbpf 1.1's libbpf.h on 64-bit Linux, each with its <c>sz</c> first;
/// the sizes are checked against the installed header by FastPathLayoutTests.
/// </summary>
internal static unsafe partial class Libbpf
{
    private const string Library = "libbpf.so.1";

    public const int TcIngress = 1;                 // BPF_TC_INGRESS
    public const int TcEgress = 2;                  // BPF_TC_EGRESS
    public const uint TcReplace = 1;                // BPF_TC_F_REPLACE
    public const ulong UpdateAny = 0;               // BPF_ANY

    /// <summary>struct bpf_object_open_opts (80 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ObjectOpenOptions
    {
        public nuint Size;
        public byte* ObjectName;
        public byte RelaxedMaps;
        public byte* PinRootPath;
        public uint RemovedAttachProgramFileDescriptor;
        public byte* KernelConfig;
        public byte* BtfCustomPath;
        public byte* KernelLogBuffer;
        public nuint KernelLogSize;
        public uint KernelLogLevel;
        private readonly uint padding;
    }

    /// <summary>struct bpf_tc_hook (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TcHook
    {
        public nuint Size;
        public int InterfaceIndex;
        public int AttachPoint;
        public uint Parent;
        private readonly uint padding;
    }

    /// <summary>struct bpf_tc_opts (32 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TcOptions
    {
        public nuint Size;
        public int ProgramFileDescriptor;
        public uint Flags;
        public uint ProgramId;
        public uint Handle;
        public uint Priority;
        private readonly uint padding;
    }

    /// <summary>The head of struct bpf_map_info (linux/bpf.h); the kernel fills only as much as it is given.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MapInformation
    {
        public uint Type;
        public uint Id;
        public uint KeySize;
        public uint ValueSize;
        public uint MaximumEntries;
        public uint MapFlags;
        public fixed byte Name[16];         // BPF_OBJ_NAME_LEN
    }

    /// <summary>The head of struct bpf_prog_info (linux/bpf.h) up to its map ids (64 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ProgramInformation
    {
        public uint Type;
        public uint Id;
        public ulong Tag;
        public uint JitedProgramLength;
        public uint TranslatedProgramLength;
        public ulong JitedProgramInstructions;
        public ulong TranslatedProgramInstructions;
        public ulong LoadTime;
        public uint CreatedByUserId;
        public uint MapIdCount;             // in: room in MapIds; out: how many the program uses
        public ulong MapIds;                // a __u32 array in this process
    }

    [LibraryImport(Library, EntryPoint = "bpf_object__open_file", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ObjectOpenFile(string path, ObjectOpenOptions* options);

    [LibraryImport(Library, EntryPoint = "bpf_object__load", SetLastError = true)]
    public static partial int ObjectLoad(nint bpfObject);

    [LibraryImport(Library, EntryPoint = "bpf_object__close")]
    public static partial void ObjectClose(nint bpfObject);

    [LibraryImport(Library, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ObjectFindMapByName(nint bpfObject, string name);

    [LibraryImport(Library, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ObjectFindProgramByName(nint bpfObject, string name);

    [LibraryImport(Library, EntryPoint = "bpf_map__set_max_entries", SetLastError = true)]
    public static partial int MapSetMaximumEntries(nint map, uint maximumEntries);

    [LibraryImport(Library, EntryPoint = "bpf_map__fd")]
    public static partial int MapFileDescriptor(nint map);

    [LibraryImport(Library, EntryPoint = "bpf_program__fd")]
    public static partial int ProgramFileDescriptor(nint program);

    [LibraryImport(Library, EntryPoint = "bpf_obj_get", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ObjectGetPinned(string path);

    [LibraryImport(Library, EntryPoint = "bpf_obj_get_info_by_fd", SetLastError = true)]
    public static partial int ObjectGetInformation(int fileDescriptor, void* information, uint* length);

    [LibraryImport(Library, EntryPoint = "bpf_prog_get_fd_by_id", SetLastError = true)]
    public static partial int ProgramGetFileDescriptorById(uint id);

    [LibraryImport(Library, EntryPoint = "bpf_map_get_fd_by_id", SetLastError = true)]
    public static partial int MapGetFileDescriptorById(uint id);

    [LibraryImport(Library, EntryPoint = "bpf_map__reuse_fd", SetLastError = true)]
    public static partial int MapReuseFileDescriptor(nint map, int fileDescriptor);

    [LibraryImport(Library, EntryPoint = "bpf_tc_hook_create", SetLastError = true)]
    public static partial int TcHookCreate(TcHook* hook);

    [LibraryImport(Library, EntryPoint = "bpf_tc_hook_destroy", SetLastError = true)]
    public static partial int TcHookDestroy(TcHook* hook);

    [LibraryImport(Library, EntryPoint = "bpf_tc_attach", SetLastError = true)]
    public static partial int TcAttach(TcHook* hook, TcOptions* options);

    [LibraryImport(Library, EntryPoint = "bpf_tc_detach", SetLastError = true)]
    public static partial int TcDetach(TcHook* hook, TcOptions* options);

    [LibraryImport(Library, EntryPoint = "bpf_tc_query", SetLastError = true)]
    public static partial int TcQuery(TcHook* hook, TcOptions* options);

    [LibraryImport(Library, EntryPoint = "bpf_map_update_elem", SetLastError = true)]
    public static partial int MapUpdateElement(int fileDescriptor, void* key, void* value, ulong flags);

    [LibraryImport(Library, EntryPoint = "bpf_map_delete_elem", SetLastError = true)]
    public static partial int MapDeleteElement(int fileDescriptor, void* key);

    [LibraryImport(Library, EntryPoint = "bpf_map_lookup_elem", SetLastError = true)]
    public static partial int MapLookupElement(int fileDescriptor, void* key, void* value);

    [LibraryImport(Library, EntryPoint = "bpf_map_get_next_key", SetLastError = true)]
    public static partial int MapGetNextKey(int fileDescriptor, void* key, void* nextKey);

    [LibraryImport(Library, EntryPoint = "libbpf_num_possible_cpus")]
    public static partial int PossibleProcessorCount();

    /// <summary>The errno of a failed call: libbpf returns -errno, and sets errno too.</summary>
    public static int ErrorOf(int result) => result < 0 ? -result : Marshal.GetLastPInvokeError();
}
