using System.Text;

namespace VirtPool.Rpc.Tests;

public class RemoteProcedureTests
{
    /// <summary>
    /// Number and REMOTE_PROC_ name of every procedure in the spec's tables (sections 4, 5.3, 7, 10.3), copied from
    /// the spec so a renumbered or misspelt enum member fails here.
    /// </summary>
    private const string SpecTable = """
        1 CONNECT_OPEN; 2 CONNECT_CLOSE; 3 CONNECT_GET_TYPE; 4 CONNECT_GET_VERSION; 5 CONNECT_GET_MAX_VCPUS;
        6 NODE_GET_INFO; 7 CONNECT_GET_CAPABILITIES; 51 CONNECT_NUM_OF_DOMAINS; 59 CONNECT_GET_HOSTNAME;
        60 CONNECT_SUPPORTS_FEATURE; 66 AUTH_LIST; 67 AUTH_SASL_INIT; 68 AUTH_SASL_START; 69 AUTH_SASL_STEP;
        70 AUTH_POLKIT; 71 CONNECT_NUM_OF_STORAGE_POOLS; 72 CONNECT_LIST_STORAGE_POOLS;
        73 CONNECT_NUM_OF_DEFINED_STORAGE_POOLS; 74 CONNECT_LIST_DEFINED_STORAGE_POOLS;
        75 CONNECT_FIND_STORAGE_POOL_SOURCES; 76 STORAGE_POOL_CREATE_XML; 77 STORAGE_POOL_DEFINE_XML;
        78 STORAGE_POOL_CREATE; 79 STORAGE_POOL_BUILD; 80 STORAGE_POOL_DESTROY; 81 STORAGE_POOL_DELETE;
        82 STORAGE_POOL_UNDEFINE; 83 STORAGE_POOL_REFRESH; 84 STORAGE_POOL_LOOKUP_BY_NAME;
        85 STORAGE_POOL_LOOKUP_BY_UUID; 86 STORAGE_POOL_LOOKUP_BY_VOLUME; 87 STORAGE_POOL_GET_INFO;
        88 STORAGE_POOL_GET_XML_DESC; 89 STORAGE_POOL_GET_AUTOSTART; 90 STORAGE_POOL_SET_AUTOSTART;
        91 STORAGE_POOL_NUM_OF_VOLUMES; 92 STORAGE_POOL_LIST_VOLUMES; 93 STORAGE_VOL_CREATE_XML;
        94 STORAGE_VOL_DELETE; 95 STORAGE_VOL_LOOKUP_BY_NAME; 96 STORAGE_VOL_LOOKUP_BY_KEY;
        97 STORAGE_VOL_LOOKUP_BY_PATH; 98 STORAGE_VOL_GET_INFO; 99 STORAGE_VOL_GET_XML_DESC;
        100 STORAGE_VOL_GET_PATH; 110 CONNECT_GET_URI; 125 STORAGE_VOL_CREATE_XML_FROM;
        139 CONNECT_NUM_OF_SECRETS; 140 CONNECT_LIST_SECRETS; 141 SECRET_LOOKUP_BY_UUID; 142 SECRET_DEFINE_XML;
        143 SECRET_GET_XML_DESC; 144 SECRET_SET_VALUE; 145 SECRET_GET_VALUE; 146 SECRET_UNDEFINE;
        147 SECRET_LOOKUP_BY_USAGE; 149 CONNECT_IS_SECURE; 154 STORAGE_POOL_IS_ACTIVE;
        155 STORAGE_POOL_IS_PERSISTENT; 157 CONNECT_GET_LIB_VERSION; 165 STORAGE_VOL_WIPE;
        203 CONNECT_GET_SYSINFO; 208 STORAGE_VOL_UPLOAD; 209 STORAGE_VOL_DOWNLOAD; 259 STORAGE_VOL_WIPE_PATTERN;
        260 STORAGE_VOL_RESIZE; 273 CONNECT_LIST_ALL_DOMAINS; 281 CONNECT_LIST_ALL_STORAGE_POOLS;
        282 STORAGE_POOL_LIST_ALL_VOLUMES; 287 CONNECT_LIST_ALL_SECRETS; 360 CONNECT_REGISTER_CLOSE_CALLBACK;
        361 CONNECT_UNREGISTER_CLOSE_CALLBACK; 362 CONNECT_EVENT_CONNECTION_CLOSED;
        368 CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY; 369 CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY;
        370 STORAGE_POOL_EVENT_LIFECYCLE; 373 STORAGE_POOL_EVENT_REFRESH; 378 STORAGE_VOL_GET_INFO_FLAGS;
        380 CONNECT_SECRET_EVENT_REGISTER_ANY; 381 CONNECT_SECRET_EVENT_DEREGISTER_ANY;
        382 SECRET_EVENT_LIFECYCLE; 383 SECRET_EVENT_VALUE_CHANGED; 391 STORAGE_POOL_LOOKUP_BY_TARGET_PATH;
        403 CONNECT_GET_STORAGE_POOL_CAPABILITIES
        """;

    private static IEnumerable<(int Number, string Name)> Spec()
        => SpecTable.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => entry.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(parts => (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), parts[1]));

    /// <summary>StorageVolCreateXmlFrom → STORAGE_VOL_CREATE_XML_FROM.</summary>
    private static string ToProtocolName(RemoteProcedure procedure)
    {
        string name = procedure.ToString();
        var result = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                result.Append('_');
            }

            result.Append(char.ToUpperInvariant(name[i]));
        }

        return result.ToString();
    }

    [Fact]
    public void Enum_matches_the_spec_exactly()
    {
        var spec = Spec().ToList();
        var members = Enum.GetValues<RemoteProcedure>().Select(p => ((int)p, ToProtocolName(p))).ToList();
        Assert.Equal(spec.Count, spec.Select(s => s.Number).Distinct().Count());
        Assert.Equal(spec.OrderBy(s => s.Number), members.OrderBy(m => m.Item1));
    }

    [Fact]
    public void Program_constants()
    {
        Assert.Equal(0x20008086u, RpcPrograms.Remote);
        Assert.Equal(1u, RpcPrograms.RemoteVersion);
        Assert.Equal("keep"u8.ToArray(), BitConverterBigEndian(RpcPrograms.Keepalive));
        Assert.Equal(1, (int)KeepaliveProcedure.Ping);
        Assert.Equal(2, (int)KeepaliveProcedure.Pong);
    }

    private static byte[] BitConverterBigEndian(uint value)
    {
        byte[] bytes = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }
}
