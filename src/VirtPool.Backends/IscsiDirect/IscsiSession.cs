using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VirtPool.Core.Errors;
using static VirtPool.Backends.IscsiDirect.LibIscsiNative;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>What a login to one target needs: libvirt's portal string, the target and initiator IQNs, CHAP.</summary>
/// <param name="TargetIqn">The target of a normal session; null for a discovery session (SendTargets).</param>
/// <param name="TimeoutSeconds">libiscsi's own limit for every PDU (login, command, logout), 0 = none.</param>
internal sealed record IscsiLogin(string Portal, string? TargetIqn, string InitiatorIqn, string? ChapUser, string? ChapPassword, int TimeoutSeconds);

/// <summary>A LUN's size (READ CAPACITY), or none for a LUN that is no disk (tgt's LUN 0 controller).</summary>
/// <param name="Blocks">The number of logical blocks (the last LBA + 1).</param>
/// <param name="ThinProvisioned">LBPME: the LUN deallocates blocks on UNMAP.</param>
/// <param name="UnmappedReadsZero">LBPRZ: a deallocated block reads as zeros.</param>
internal readonly record struct LunCapacity(bool IsDisk, uint BlockSize, ulong Blocks, bool ThinProvisioned, bool UnmappedReadsZero)
{
    public ulong Bytes => BlockSize * Blocks;
}

/// <summary>
/// One logged-in libiscsi session with a target: the blocking calls the backend makes, with libvirt's
/// error messages (storage_backend_iscsi_direct.c), all VIR_ERR_INTERNAL_ERROR as there. One context is
/// not thread safe: every call holds the session's lock. A call that got no answer (the task is NULL:
/// the connection dropped or the PDU timed out) marks the session <see cref="IsBroken"/>.
/// </summary>
internal sealed class IscsiSession : IDisposable
{
    private readonly Lock _lock = new();
    private IntPtr _context;
    private bool _loggedIn;
    private int _timeoutSeconds;

    private IscsiSession(IntPtr context) => _context = context;

    /// <summary>A call found the connection gone; the session must be replaced, not reused.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Commands sent so far: a session that has sent some is one an earlier operation used.</summary>
    public long Commands => Interlocked.Read(ref _commands);

    private long _commands;

    /// <summary>
    /// libvirt's virStorageBackendISCSIDirectSetConnection: a context for the initiator IQN, CHAP when
    /// given, a normal session with the target, then connect and login, each failure in libvirt's words.
    /// </summary>
    public static IscsiSession Open(IscsiLogin login)
    {
        var context = iscsi_create_context(login.InitiatorIqn);
        if (context == IntPtr.Zero)
        {
            throw VirtPoolException.Internal($"Failed to create iscsi context for {login.InitiatorIqn}");
        }

        var session = new IscsiSession(context);
        try
        {
            session.Login(login);
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private void Login(IscsiLogin login)
    {
        // A lost connection must fail the call; the pool's connection logs in again on the next use.
        iscsi_set_noautoreconnect(_context, 1);
        _timeoutSeconds = login.TimeoutSeconds;
        if (login.TimeoutSeconds > 0)
        {
            if (iscsi_set_timeout(_context, login.TimeoutSeconds) < 0)
            {
                throw Failure("Failed to set timeout");
            }
        }

        if (login.ChapUser is not null && login.ChapPassword is not null
            && iscsi_set_initiator_username_pwd(_context, login.ChapUser, login.ChapPassword) < 0)
        {
            throw Failure("Failed to set credential");
        }

        if (iscsi_init_transport(_context, TcpTransport) < 0)
        {
            throw Failure("Failed to init transport");
        }

        if (login.TargetIqn is not null && iscsi_set_targetname(_context, login.TargetIqn) < 0)
        {
            throw Failure("Failed to set target name");
        }

        if (iscsi_set_session_type(_context, login.TargetIqn is null ? SessionDiscovery : SessionNormal) < 0)
        {
            throw Failure("Failed to set session type");
        }

        if (iscsi_connect_sync(_context, login.Portal) < 0)
        {
            IsBroken = true;
            throw Failure("Failed to connect");
        }

        if (iscsi_login_sync(_context) < 0)
        {
            IsBroken = true;
            throw Failure("Failed to login");
        }

        _loggedIn = true;
    }

    /// <summary>The target names a discovery session's SendTargets returns, in the target's order.</summary>
    public IReadOnlyList<string> DiscoverTargets()
    {
        lock (_lock)
        {
            Interlocked.Increment(ref _commands);
            var list = iscsi_discovery_sync(Context);
            if (list == IntPtr.Zero)
            {
                IsBroken = true;
                throw Failure("Failed to discover session");
            }

            try
            {
                var targets = new List<string>();
                for (var at = list; at != IntPtr.Zero;)
                {
                    var (next, name) = DiscoveryAddress(at);
                    targets.Add(name);
                    at = next;
                }

                return targets;
            }
            finally
            {
                iscsi_free_discovery_data(Context, list);
            }
        }
    }

    /// <summary>REPORT LUNS (select report 0), asked again with the full size when the first answer was cut short.</summary>
    public IReadOnlyList<int> ReportLuns()
    {
        lock (_lock)
        {
            var task = Answered(iscsi_reportluns_sync(Context, 0, 16), "Failed to reportluns");
            try
            {
                var full = scsi_datain_getfullsize(task);
                if (full > TaskDataIn(task).Length)
                {
                    scsi_free_scsi_task(task);
                    task = IntPtr.Zero;
                    task = Answered(iscsi_reportluns_sync(Context, 0, full), "Failed to reportluns");
                }

                return ParseLunList(TaskDataIn(task)) ?? throw Failure("Failed to unmarshall reportluns");
            }
            finally
            {
                scsi_free_scsi_task(task);
            }
        }
    }

    /// <summary>
    /// The LUN numbers of REPORT LUNS parameter data: a 4-byte list length, 4 reserved bytes, then 8 bytes
    /// a LUN, whose first two bytes are the number as libiscsi reads it (and libvirt names the volume).
    /// </summary>
    internal static int[]? ParseLunList(ReadOnlySpan<byte> data)
    {
        if (data.Length < 8)
        {
            return null;
        }

        var count = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data) / 8, (uint)((data.Length - 8) / 8));
        var luns = new int[count];
        for (var i = 0; i < count; i++)
        {
            luns[i] = BinaryPrimitives.ReadUInt16BigEndian(data[(8 + (i * 8))..]);
        }

        return luns;
    }

    /// <summary>
    /// libvirt's virISCSIDirectTestUnitReady: TEST UNIT READY, asked again while the target reports the
    /// unit attention of a fresh login (a bus reset), at most a few times.
    /// </summary>
    public void TestUnitReady(int lun)
    {
        lock (_lock)
        {
            for (var attempt = 0; ; attempt++)
            {
                var task = Answered(iscsi_testunitready_sync(Context, lun), "Failed testunitready");
                try
                {
                    var status = TaskStatus(task);
                    if (status == StatusGood)
                    {
                        return;
                    }

                    var resetAttention = status == StatusCheckCondition && TaskSenseKey(task) == SenseUnitAttention && TaskSenseAscq(task) == AscqBusReset;
                    if (!resetAttention || attempt >= 10)
                    {
                        throw Failure("Failed testunitready");
                    }
                }
                finally
                {
                    scsi_free_scsi_task(task);
                }
            }
        }
    }

    /// <summary>libvirt's order for each LUN: TEST UNIT READY, then the capacity.</summary>
    public LunCapacity ReadyCapacity(int lun)
    {
        TestUnitReady(lun);
        return ReadCapacity(lun);
    }

    /// <summary>
    /// libvirt's virISCSIDirectGetVolumeCapacity: INQUIRY, and for a direct-access device READ CAPACITY
    /// (16; 10 when the target refuses 16).
    /// </summary>
    public LunCapacity ReadCapacity(int lun)
    {
        lock (_lock)
        {
            var inquiry = Answered(iscsi_inquiry_sync(Context, lun, 0, 0, 64), "Failed to send inquiry command");
            try
            {
                var data = TaskDataIn(inquiry);
                if (TaskStatus(inquiry) != StatusGood)
                {
                    throw Failure("Failed to send inquiry command");
                }

                if (data.Length < 1)
                {
                    throw Failure("Failed to unmarshall reply");
                }

                // Peripheral device type 0: a direct-access block device. Anything else has no capacity.
                if ((data[0] & 0x1f) != 0)
                {
                    return new LunCapacity(false, 0, 0, false, false);
                }
            }
            finally
            {
                scsi_free_scsi_task(inquiry);
            }

            return ReadCapacity16(lun) ?? ReadCapacity10(lun);
        }
    }

    private LunCapacity? ReadCapacity16(int lun)
    {
        var task = Command(c => iscsi_readcapacity16_sync(c, lun), "Failed to get capacity of lun");
        try
        {
            var data = TaskDataIn(task);
            if (TaskStatus(task) != StatusGood || data.Length < 15)
            {
                return null;
            }

            var lastLba = BinaryPrimitives.ReadUInt64BigEndian(data);
            var blockSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
            return new LunCapacity(true, blockSize, lastLba + 1, (data[14] & 0x80) != 0, (data[14] & 0x40) != 0);
        }
        finally
        {
            scsi_free_scsi_task(task);
        }
    }

    private LunCapacity ReadCapacity10(int lun)
    {
        var task = Command(c => iscsi_readcapacity10_sync(c, lun, 0, 0), "Failed to get capacity of lun");
        try
        {
            var data = TaskDataIn(task);
            if (TaskStatus(task) != StatusGood || data.Length < 8)
            {
                throw Failure("Failed to get capacity of lun");
            }

            return new LunCapacity(true, BinaryPrimitives.ReadUInt32BigEndian(data[4..]), BinaryPrimitives.ReadUInt32BigEndian(data) + 1UL, false, false);
        }
        finally
        {
            scsi_free_scsi_task(task);
        }
    }

    /// <summary>READ(16) of <paramref name="into"/>.Length bytes (whole blocks) from <paramref name="lba"/>.</summary>
    public void Read(int lun, ulong lba, Span<byte> into, uint blockSize)
    {
        lock (_lock)
        {
            var length = (uint)into.Length;
            var task = Command(c => iscsi_read16_sync(c, lun, lba, length, (int)blockSize, 0, 0, 0, 0, 0), $"failed to read from LUN {lun}");
            try
            {
                var data = TaskDataIn(task);
                if (TaskStatus(task) != StatusGood || data.Length != into.Length)
                {
                    throw Failure($"failed to read from LUN {lun}");
                }

                data.CopyTo(into);
            }
            finally
            {
                scsi_free_scsi_task(task);
            }
        }
    }

    /// <summary>WRITE(16) of <paramref name="data"/> (whole blocks) at <paramref name="lba"/>; libvirt's message on failure.</summary>
    public unsafe void Write(int lun, ulong lba, ReadOnlySpan<byte> data, uint blockSize)
    {
        lock (_lock)
        {
            fixed (byte* bytes = data)
            {
                var address = (IntPtr)bytes;
                var length = (uint)data.Length;
                var task = Command(c => iscsi_write16_sync(c, lun, lba, (byte*)address, length, (int)blockSize, 0, 0, 0, 0, 0), $"failed to write to LUN {lun}");
                try
                {
                    if (TaskStatus(task) != StatusGood)
                    {
                        throw Failure($"failed to write to LUN {lun}");
                    }
                }
                finally
                {
                    scsi_free_scsi_task(task);
                }
            }
        }
    }

    /// <summary>UNMAP of <paramref name="blocks"/> blocks from <paramref name="lba"/> (one descriptor).</summary>
    public unsafe void Unmap(int lun, ulong lba, uint blocks)
    {
        lock (_lock)
        {
            var range = new UnmapDescriptor { Lba = lba, Blocks = blocks };
            var address = (IntPtr)(&range);
            var task = Command(c => iscsi_unmap_sync(c, lun, 0, 0, (UnmapDescriptor*)address, 1), $"failed to unmap LUN {lun}");
            try
            {
                if (TaskStatus(task) != StatusGood)
                {
                    throw Failure($"failed to unmap LUN {lun}");
                }
            }
            finally
            {
                scsi_free_scsi_task(task);
            }
        }
    }

    /// <summary>Logs out (when still connected) and frees the context; never throws.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_context == IntPtr.Zero)
            {
                return;
            }

            // Failures here change nothing: the target drops a session whose connection closes.
            if (_loggedIn && !IsBroken)
            {
                _ = iscsi_logout_sync(_context);
                _ = iscsi_disconnect(_context);
            }

            _ = iscsi_destroy_context(_context);
            _context = IntPtr.Zero;
        }
    }

    private IntPtr Context => _context != IntPtr.Zero ? _context : throw new ObjectDisposedException(nameof(IscsiSession));

    /// <summary>
    /// Issues a command, again while the target answers with a unit attention (the first command to
    /// each LUN after a login reports the "bus reset" of the new nexus; a resized LUN reports one too).
    /// </summary>
    private IntPtr Command(Func<IntPtr, IntPtr> issue, string failure)
    {
        for (var attempt = 0; ; attempt++)
        {
            var task = Answered(issue(Context), failure);
            if (attempt >= 10 || TaskStatus(task) != StatusCheckCondition || TaskSenseKey(task) != SenseUnitAttention)
            {
                return task;
            }

            scsi_free_scsi_task(task);
        }
    }

    /// <summary>
    /// A task the target answered, or libvirt's error: for NULL (the connection is gone) and for
    /// libiscsi's own transport statuses (cancelled, error, timed out), after which the session is broken.
    /// </summary>
    private IntPtr Answered(IntPtr task, string failure)
    {
        Interlocked.Increment(ref _commands);
        if (task == IntPtr.Zero)
        {
            IsBroken = true;
            throw Failure(failure);
        }

        var status = TaskStatus(task);
        if (IsTransportStatus(status))
        {
            // libiscsi leaves its error text as it was: say what happened.
            IsBroken = true;
            scsi_free_scsi_task(task);
            throw status switch
            {
                StatusCancelled => VirtPoolException.Internal($"{failure}: the connection to the target was lost"),
                StatusTimeout => VirtPoolException.Internal($"{failure}: the target did not answer within {_timeoutSeconds} s"),
                _ => Failure(failure),
            };
        }

        return task;
    }

    private VirtPoolException Failure(string what) => VirtPoolException.Internal($"{what}: {Error(_context)}");
}
