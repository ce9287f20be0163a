using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

public class XmlBufferTests
{
    [Fact]
    public void Escapes_like_virBufferEscapeString_and_drops_control_characters()
    {
        Assert.Equal("a&lt;b&gt;c&amp;d&quot;e&apos;f", XmlBuffer.Escape("a<b>c&d\"e'f"));
        Assert.Equal("tab\tnl\ncr\rbelgone", XmlBuffer.Escape("tab\tnl\ncr\rbel\u0007gone"));
        Assert.Equal("plain", XmlBuffer.Escape("plain"));
    }

    [Fact]
    public void Nests_with_two_space_indentation()
    {
        var buf = new XmlBuffer();
        buf.Open("pool type='dir'").Element("name", "a&b").Open("target").Element("path", "/x").Close("target").Close("pool");
        Assert.Equal("<pool type='dir'>\n  <name>a&amp;b</name>\n  <target>\n    <path>/x</path>\n  </target>\n</pool>\n", buf.ToString());
    }
}
