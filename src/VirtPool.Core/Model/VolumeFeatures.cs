namespace VirtPool.Core.Model;

/// <summary>
/// The qcow2 feature set of a volume target (libvirt's features bitmap over virStorageFileFeature).
/// libvirt prints &lt;features&gt; when the bitmap exists, even if empty: <see cref="Present"/> records that
/// an (empty) &lt;features/&gt; was given; a set feature implies presence.
/// </summary>
public sealed record VolumeFeatures
{
    /// <summary>The names libvirt uses, in bitmap order (that is also the output order).</summary>
    public static IReadOnlyList<string> Names { get; } = ["lazy_refcounts", "extended_l2"];

    public bool LazyRefcounts { get; set; }

    public bool ExtendedL2 { get; set; }

    /// <summary>A &lt;features&gt; element exists even when no feature is set.</summary>
    public bool Present { get; set; }

    /// <summary>Whether libvirt would print a &lt;features&gt; element.</summary>
    public bool IsPresent => Present || LazyRefcounts || ExtendedL2;
}
