using VirtPool.Daemon.Connections;
using VirtPool.Daemon.Events;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Host;

/// <summary>The one procedure table of the daemon: connection, event, storage and secret procedures.</summary>
public static class DaemonProcedures
{
    public static ProcedureTable<DaemonCallContext> Create()
    {
        var table = new ProcedureTable<DaemonCallContext>();
        ConnectProcedures.Register(table);
        EventProcedures.Register(table);
        Storage.StorageProcedures.Register(table);
        Secrets.SecretProcedures.Register(table);
        return table;
    }
}
