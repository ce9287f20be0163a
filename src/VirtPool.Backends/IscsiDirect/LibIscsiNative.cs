using System.Runtime.InteropServices;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// libiscsi 1.19 (<c>libiscsi.so.7</c>, the versioned soname: no -dev symlink is installed), the calls
/// the iscsi-direct backend makes. Every <c>*_sync</c> call blocks until the target answers, the
/// context's timeout (<see cref="iscsi_set_timeout"/>) expires or the connection fails. A context is not
/// thread safe: <see cref="IscsiSession"/> owns one and serializes its calls. Strings are UTF-8; no
/// NULL is passed where libiscsi expects a string.
/// </summary>
internal static partial class LibIscsiNative
{
    private const string Library = "libiscsi.so.7";

    /// <summary>enum iscsi_session_type.</summary>
    public const int SessionDiscovery = 1;

    public const int SessionNormal = 2;

    /// <summary>enum iscsi_transport_type TCP_TRANSPORT.</summary>
    public const int TcpTransport = 0;

    /// <summary>SCSI_STATUS_GOOD / SCSI_STATUS_CHECK_CONDITION (task->status).</summary>
    public const int StatusGood = 0;

    public const int StatusCheckCondition = 2;

    /// <summary>SCSI_STATUS_CANCELLED, _ERROR, _TIMEOUT: libiscsi's own, the command never got an answer.</summary>
    public static bool IsTransportStatus(int status) => (status & 0x0f000000) == 0x0f000000;

    public const int StatusCancelled = 0x0f000000;

    public const int StatusTimeout = 0x0f000002;

    /// <summary>SCSI_SENSE_UNIT_ATTENTION and SCSI_SENSE_ASCQ_BUS_RESET: a fresh login's first answer.</summary>
    public const int SenseUnitAttention = 6;

    public const int AscqBusReset = 0x2900;

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr iscsi_create_context(string initiatorName);

    [LibraryImport(Library)]
    public static partial int iscsi_destroy_context(IntPtr iscsi);

    [LibraryImport(Library)]
    public static partial int iscsi_init_transport(IntPtr iscsi, int transport);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int iscsi_set_targetname(IntPtr iscsi, string targetName);

    [LibraryImport(Library)]
    public static partial int iscsi_set_session_type(IntPtr iscsi, int sessionType);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int iscsi_set_initiator_username_pwd(IntPtr iscsi, string user, string password);

    /// <summary>Seconds after which a PDU (login, SCSI command, logout) fails; 0 = never (the default).</summary>
    [LibraryImport(Library)]
    public static partial int iscsi_set_timeout(IntPtr iscsi, int seconds);

    /// <summary>
    /// 1 turns libiscsi's own reconnect off: a lost connection fails the command (status cancelled) at
    /// once. With it on, a session set up by connect + login (not full_connect) hangs in the reconnect
    /// when the target restarts, past every timeout (measured with libiscsi 1.19 and tgt 1.0.85).
    /// </summary>
    [LibraryImport(Library)]
    public static partial void iscsi_set_noautoreconnect(IntPtr iscsi, int state);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int iscsi_connect_sync(IntPtr iscsi, string portal);

    [LibraryImport(Library)]
    public static partial int iscsi_login_sync(IntPtr iscsi);

    [LibraryImport(Library)]
    public static partial int iscsi_logout_sync(IntPtr iscsi);

    [LibraryImport(Library)]
    public static partial int iscsi_disconnect(IntPtr iscsi);

    /// <summary>The context's last error text (owned by the context; valid until its next call).</summary>
    [LibraryImport(Library)]
    public static partial IntPtr iscsi_get_error(IntPtr iscsi);

    /// <summary>SendTargets on a discovery session: a list of struct iscsi_discovery_address, or NULL.</summary>
    [LibraryImport(Library)]
    public static partial IntPtr iscsi_discovery_sync(IntPtr iscsi);

    [LibraryImport(Library)]
    public static partial void iscsi_free_discovery_data(IntPtr iscsi, IntPtr addresses);

    /// <summary>struct iscsi_discovery_address: next, target_name, portals.</summary>
    public static (IntPtr Next, string TargetName) DiscoveryAddress(IntPtr address)
        => (Marshal.ReadIntPtr(address, 0), Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(address, IntPtr.Size)) ?? string.Empty);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_reportluns_sync(IntPtr iscsi, int reportType, int allocLen);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_testunitready_sync(IntPtr iscsi, int lun);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_inquiry_sync(IntPtr iscsi, int lun, int evpd, int pageCode, int maxSize);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_readcapacity16_sync(IntPtr iscsi, int lun);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_readcapacity10_sync(IntPtr iscsi, int lun, int lba, int pmi);

    [LibraryImport(Library)]
    public static partial IntPtr iscsi_read16_sync(IntPtr iscsi, int lun, ulong lba, uint dataLength, int blockSize, int rdProtect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Library)]
    public static unsafe partial IntPtr iscsi_write16_sync(IntPtr iscsi, int lun, ulong lba, byte* data, uint dataLength, int blockSize, int wrProtect, int dpo, int fua, int fuaNv, int groupNumber);

    [LibraryImport(Library)]
    public static unsafe partial IntPtr iscsi_unmap_sync(IntPtr iscsi, int lun, int anchor, int group, UnmapDescriptor* list, int listLength);

    [LibraryImport(Library)]
    public static partial int scsi_datain_getfullsize(IntPtr task);

    [LibraryImport(Library)]
    public static partial void scsi_free_scsi_task(IntPtr task);

    /// <summary>struct unmap_list: one range UNMAP deallocates.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct UnmapDescriptor
    {
        public ulong Lba;
        public uint Blocks;
    }

    /// <summary>
    /// Offsets in struct scsi_task (scsi-lowlevel.h of libiscsi 1.19, x86_64 and aarch64 LP64: checked
    /// with offsetof against the release's header): status, sense.key, sense.ascq, datain.size, datain.data.
    /// </summary>
    private const int StatusOffset = 0;
    private const int SenseKeyOffset = 52;
    private const int SenseAscqOffset = 56;
    private const int DataInSizeOffset = 64;
    private const int DataInDataOffset = 72;

    public static int TaskStatus(IntPtr task) => Marshal.ReadInt32(task, StatusOffset);

    public static int TaskSenseKey(IntPtr task) => Marshal.ReadInt32(task, SenseKeyOffset);

    public static int TaskSenseAscq(IntPtr task) => Marshal.ReadInt32(task, SenseAscqOffset);

    /// <summary>The bytes the target returned (data-in), owned by the task.</summary>
    public static unsafe ReadOnlySpan<byte> TaskDataIn(IntPtr task)
    {
        var size = Marshal.ReadInt32(task, DataInSizeOffset);
        var data = Marshal.ReadIntPtr(task, DataInDataOffset);
        return size <= 0 || data == IntPtr.Zero ? [] : new ReadOnlySpan<byte>((void*)data, size);
    }

    public static string Error(IntPtr iscsi)
        => Marshal.PtrToStringUTF8(iscsi_get_error(iscsi)) ?? string.Empty;
}
