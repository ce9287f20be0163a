using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>
/// The clash checks libvirtd runs when a pool is defined or created (virStoragePoolObjListAdd):
/// first virStoragePoolObjSourceFindDuplicate (same storage under another pool name), then
/// virStoragePoolObjIsDuplicate (same uuid with another name, same name with another uuid, and,
/// for create, an already active pool).
/// </summary>
public static class PoolSourceDuplicates
{
    /// <summary>
    /// Throws libvirt's error when <paramref name="def"/> clashes with one of <paramref name="existing"/>.
    /// Pools with the same name as <paramref name="def"/> are skipped by the source check, as libvirt does
    /// when a pool is redefined. Pass <paramref name="isActive"/> for pool-create (libvirt's check_active):
    /// an existing pool with the same uuid and name that is active is then refused.
    /// </summary>
    /// <exception cref="VirtPoolException">
    /// "operation failed: Storage source conflict with pool: 'NAME'",
    /// "operation failed: pool 'NAME' is already defined with uuid UUID",
    /// "operation failed: pool 'NAME' already exists with uuid UUID",
    /// "Requested operation is not valid: pool is already active as 'NAME'".
    /// </exception>
    public static void Check(PoolDefinition def, IEnumerable<PoolDefinition> existing, Func<PoolDefinition, bool>? isActive = null)
    {
        var pools = existing as IReadOnlyCollection<PoolDefinition> ?? [.. existing];

        foreach (var pool in pools)
        {
            if (pool.Name != def.Name && SourceMatches(pool, def))
            {
                throw VirtPoolException.Failed($"Storage source conflict with pool: '{pool.Name}'");
            }
        }

        var sameUuid = pools.FirstOrDefault(p => p.Uuid == def.Uuid);
        if (sameUuid is not null)
        {
            if (sameUuid.Name != def.Name)
            {
                throw VirtPoolException.Failed($"pool '{sameUuid.Name}' is already defined with uuid {LibvirtUuid.Format(sameUuid.Uuid)}");
            }

            if (isActive is not null && isActive(sameUuid))
            {
                throw VirtPoolException.InvalidOperation($"pool is already active as '{sameUuid.Name}'");
            }

            return;
        }

        var sameName = pools.FirstOrDefault(p => p.Name == def.Name);
        if (sameName is not null)
        {
            throw VirtPoolException.Failed($"pool '{def.Name}' already exists with uuid {LibvirtUuid.Format(sameName.Uuid)}");
        }
    }

    /// <summary>virStoragePoolObjSourceFindDuplicateCb: does <paramref name="def"/> use <paramref name="pool"/>'s storage?</summary>
    public static bool SourceMatches(PoolDefinition pool, PoolDefinition def)
    {
        switch (pool.Type)
        {
            case PoolType.Dir:
            case PoolType.Gluster:
            case PoolType.Netfs:
                return def.Type == pool.Type && MatchDirectory(pool, def);

            case PoolType.Scsi:
                return def.Type == pool.Type && MatchScsiAdapter(pool.Source.Adapter, def.Source.Adapter);

            case PoolType.Iscsi:
            case PoolType.Fs:
            case PoolType.Logical:
            case PoolType.Disk:
            case PoolType.Zfs:
                return def.Type is PoolType.Iscsi or PoolType.Fs or PoolType.Logical or PoolType.Disk or PoolType.Zfs
                    && MatchDevice(pool, def);

            case PoolType.Sheepdog:
                return def.Type == pool.Type && MatchSingleHost(pool.Source, def.Source);

            case PoolType.Mpath:
                // Only one mpath pool is valid per host.
                return def.Type == pool.Type;

            case PoolType.Vstorage:
                return def.Type == pool.Type && pool.Source.Name == def.Source.Name;

            default:
                // iscsi-direct and rbd pools never clash.
                return false;
        }
    }

    private static bool MatchDirectory(PoolDefinition pool, PoolDefinition def) => pool.Type switch
    {
        PoolType.Dir => pool.Target.Path == def.Target.Path,
        PoolType.Gluster => pool.Source.Name == def.Source.Name
                            && pool.Source.Dir == def.Source.Dir
                            && MatchSingleHost(pool.Source, def.Source),
        _ => pool.Source.Dir == def.Source.Dir && MatchSingleHost(pool.Source, def.Source),
    };

    /// <summary>virStoragePoolSourceMatchSingleHost (only a pool with a single host is compared).</summary>
    private static bool MatchSingleHost(PoolSource poolSource, PoolSource defSource)
    {
        if (poolSource.Hosts.Count != 1 && defSource.Hosts.Count != 1)
        {
            return false;
        }

        if (poolSource.Hosts.Count == 0 || defSource.Hosts.Count == 0)
        {
            return false;
        }

        var poolHost = poolSource.Hosts[0];
        var defHost = defSource.Hosts[0];
        if (defHost.Port != 0 && poolHost.Port != defHost.Port)
        {
            return false;
        }

        return poolHost.Name == defHost.Name;
    }

    /// <summary>virStoragePoolObjSourceMatchTypeDEVICE: a shared device path (and, for iscsi, the same initiator IQN).</summary>
    private static bool MatchDevice(PoolDefinition pool, PoolDefinition def)
    {
        if (pool.Type == PoolType.Iscsi)
        {
            return def.Type == PoolType.Iscsi && SharesDevice(pool, def) && pool.Source.InitiatorIqn == def.Source.InitiatorIqn;
        }

        return def.Type != PoolType.Iscsi && SharesDevice(pool, def);
    }

    private static bool SharesDevice(PoolDefinition pool, PoolDefinition def)
        => pool.Source.Devices.Any(a => def.Source.Devices.Any(b => a.Path == b.Path));

    /// <summary>
    /// virStoragePoolObjSourceMatchTypeISCSI for scsi pools: same fc_host wwnn+wwpn, same scsi_host parent
    /// address + unique_id, same scsi_host number (scsi_hostN, hostN or fc_hostN names), or an fc_host
    /// whose parent is the scsi_host. The sysfs lookups libvirt adds (resolving a parent address to a host
    /// number, finding an existing vHBA by wwnn/wwpn) are not made here: such pairs do not match.
    /// </summary>
    private static bool MatchScsiAdapter(PoolAdapter? poolAdapter, PoolAdapter? defAdapter)
    {
        if (poolAdapter is null || defAdapter is null)
        {
            return false;
        }

        switch (poolAdapter.Type, defAdapter.Type)
        {
            case (PoolAdapterType.FcHost, PoolAdapterType.FcHost):
                return poolAdapter.Wwnn == defAdapter.Wwnn && poolAdapter.Wwpn == defAdapter.Wwpn;

            case (PoolAdapterType.ScsiHost, PoolAdapterType.ScsiHost):
                if (poolAdapter.ParentAddress is { } a && defAdapter.ParentAddress is { } b
                    && a == b && poolAdapter.UniqueId == defAdapter.UniqueId)
                {
                    return true;
                }

                return ScsiHostNumber(poolAdapter) is { } poolNumber
                       && ScsiHostNumber(defAdapter) is { } defNumber
                       && poolNumber == defNumber;

            case (PoolAdapterType.FcHost, PoolAdapterType.ScsiHost):
                return ScsiHostNumber(defAdapter) is { } scsiNumber && FcHostParentIs(poolAdapter, scsiNumber);

            case (PoolAdapterType.ScsiHost, PoolAdapterType.FcHost):
                return ScsiHostNumber(poolAdapter) is { } number && FcHostParentIs(defAdapter, number);

            default:
                return false;
        }
    }

    private static bool FcHostParentIs(PoolAdapter fcHost, uint scsiHostNumber)
        => fcHost.Parent is not null && HostNumber(fcHost.Parent) == scsiHostNumber;

    private static uint? ScsiHostNumber(PoolAdapter scsiHost)
        => scsiHost.ParentAddress is null && scsiHost.Name is not null ? HostNumber(scsiHost.Name) : null;

    /// <summary>virSCSIHostGetNumber: "scsi_hostN", "fc_hostN" or "hostN"; null when the name is invalid.</summary>
    public static uint? HostNumber(string adapterName)
    {
        string rest;
        if (adapterName.StartsWith("scsi_host", StringComparison.Ordinal))
        {
            rest = adapterName["scsi_host".Length..];
        }
        else if (adapterName.StartsWith("fc_host", StringComparison.Ordinal))
        {
            rest = adapterName["fc_host".Length..];
        }
        else if (adapterName.StartsWith("host", StringComparison.Ordinal))
        {
            rest = adapterName["host".Length..];
        }
        else
        {
            return null;
        }

        return CNumbers.TryUInt(rest, 10, out var number) ? number : null;
    }
}
