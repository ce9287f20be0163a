using VirtPool.Core.Model;
using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

/// <summary>The volume index's backend note: escaping, and records of other versions (cases found by an adversarial review).</summary>
public sealed class VolumeIndexNoteTests
{
    private static VolumeIndexEntry Entry(string name, string? note, EncryptionDefinition? encryption = null)
        => new(name, "/p/" + name, "/p/" + name, VolumeType.File, "raw") { BackendData = note, Encryption = encryption, Id = VolumeIndexEntry.NewId() };

    [Theory]
    [InlineData("")]
    [InlineData("\t")]
    [InlineData("a\tb\tc\td")]
    [InlineData("line1\nline2\n")]
    [InlineData("\\")]
    [InlineData("ends with backslash\\")]
    [InlineData("\\t literal backslash-t")]
    [InlineData("\r\n\0\u2028")]
    public void A_note_with_separators_round_trips(string note)
    {
        var index = VolumeIndex.Parse(VolumeIndex.AddRecord(Entry("v", note), 0) + VolumeIndex.AddRecord(Entry("w\tx", null), 0));
        Assert.Equal(note, index.Find("v")!.BackendData);
        Assert.Null(index.Find("w\tx")!.BackendData);
    }

    /// <summary>
    /// A record with one field more than this version writes (a note written by a later version that
    /// adds a field, or a hand edit) is dropped whole: the volume disappears from vol-list until the
    /// next refresh, where an unknown trailing field could be ignored instead.
    /// </summary>
    [Fact]
    public void A_record_with_an_extra_trailing_field_keeps_its_volume()
    {
        var record = VolumeIndex.AddRecord(Entry("v", "note"), 0);
        var extended = record.Replace("note\n", "note\tfuture\n", StringComparison.Ordinal);
        Assert.NotEqual(record, extended);
        var index = VolumeIndex.Parse(extended);
        Assert.NotNull(index.Find("v"));
    }
}
