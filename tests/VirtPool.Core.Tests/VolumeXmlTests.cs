using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>The Data/vols cases: libvirtd 9.0's own output for each input, byte for byte.</summary>
public class VolumeXmlTests
{
    public static TheoryData<string> ValidCases => VolumeXmlCase.Names(c => c.ExpectedXml is not null);

    public static TheoryData<string> InvalidCases => VolumeXmlCase.Names(c => c.ExpectedError is not null);

    /// <summary>Cases whose output libvirt itself parses back (it prints ids above INT_MAX as negative numbers).</summary>
    public static TheoryData<string> RoundTripCases
        => VolumeXmlCase.Names(c => c.ExpectedXml is not null && c.Origin != "libvirtd-dir" && c.Name != "dir-perms-large-ids");

    [Fact]
    public void Every_case_has_exactly_one_expectation()
    {
        Assert.NotEmpty(VolumeXmlCase.All);
        foreach (var c in VolumeXmlCase.All)
        {
            Assert.True((c.ExpectedXml is null) != (c.ExpectedError is null), c.Name);
        }
    }

    [Theory]
    [MemberData(nameof(ValidCases))]
    public void Formats_what_it_parses_as_libvirtd_does(string name)
    {
        var c = VolumeXmlCase.Get(name);
        Assert.Equal(c.ExpectedXml, ParseAsLibvirtd(c));
    }

    [Theory]
    [MemberData(nameof(InvalidCases))]
    public void Rejects_what_libvirtd_rejects_with_its_message(string name)
    {
        var c = VolumeXmlCase.Get(name);
        var ex = Assert.Throws<VirtPoolException>(() => ParseAsLibvirtd(c));
        Assert.Equal(c.ExpectedError, ex.Message);
    }

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void Formatted_output_parses_back_to_the_same_output(string name)
    {
        var c = VolumeXmlCase.Get(name);
        var first = ParseAsLibvirtd(c);
        var again = VolumeXml.Format(c.Pool, VolumeXml.Parse(first, c.Pool));
        Assert.Equal(first, again);
    }

    [Fact]
    public void Error_codes_follow_libvirts_choice()
    {
        static VirErrorCode CodeOf(string file)
            => Assert.Throws<VirtPoolException>(() => ParseAsLibvirtd(VolumeXmlCase.Get(file))).Code;

        Assert.Equal(VirErrorCode.XmlError, CodeOf("err-no-name"));
        Assert.Equal(VirErrorCode.XmlError, CodeOf("err-root"));
        Assert.Equal(VirErrorCode.ConfigUnsupported, CodeOf("err-format"));
        Assert.Equal(VirErrorCode.ConfigUnsupported, CodeOf("err-type"));
        Assert.Equal(VirErrorCode.ConfigUnsupported, CodeOf("err-feature"));
        Assert.Equal(VirErrorCode.InvalidArg, CodeOf("err-capacity-unit"));
        Assert.Equal(VirErrorCode.Overflow, CodeOf("err-capacity-over-llong"));
        Assert.Equal(VirErrorCode.XmlDetail, CodeOf("err-xml-tag-mismatch"));
        Assert.Equal(VirErrorCode.OperationInvalid, CodeOf("probed-slash-name"));
    }

    /// <summary>
    /// What the case's origin did with the input: the test driver sets key and path after parsing;
    /// a real dir pool also probes type, sizes, permissions and timestamps (taken from the expectation);
    /// the storage backend refuses '/' in names before creating anything.
    /// </summary>
    private static string ParseAsLibvirtd(VolumeXmlCase c)
    {
        var vol = VolumeXml.Parse(c.Input, c.Pool, c.Flags);
        if (c.Origin == "libvirtd-dir")
        {
            VolumeXml.ValidateNameForCreate(vol.Name);
            ProbedValues.Apply(vol, c.ExpectedXml!, c.KeyPrefix);
        }
        else
        {
            vol.Key = vol.Target.Path = c.KeyPrefix + "/" + vol.Name;
        }

        return VolumeXml.Format(c.Pool, vol);
    }
}
