namespace VirtPool.Core.Xml;

/// <summary>libvirt's virStorageVolDefParseFlags.</summary>
[Flags]
public enum VolumeParseFlags
{
    None = 0,

    /// <summary>VIR_VOL_XML_PARSE_NO_CAPACITY: &lt;capacity&gt; may be missing (vol-create-from).</summary>
    NoCapacity = 1 << 0,

    /// <summary>VIR_VOL_XML_PARSE_OPT_CAPACITY: &lt;capacity&gt; may be missing when there is a backing store.</summary>
    OptCapacity = 1 << 1,
}
