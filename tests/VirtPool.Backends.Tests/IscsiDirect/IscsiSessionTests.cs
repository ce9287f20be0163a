using System.Security.Cryptography;
using VirtPool.Backends.IscsiDirect;
using VirtPool.Core.Errors;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.IscsiDirect;

/// <summary>The libiscsi bindings against a real tgtd (<see cref="IscsiTarget"/>): login, LUNs, sizes, I/O.</summary>
public sealed class IscsiSessionTests(IscsiTarget target) : IClassFixture<IscsiTarget>
{
    private IscsiLogin Plain => new(IscsiTarget.Portal, IscsiTarget.PlainIqn, IscsiTarget.InitiatorIqn, null, null, 10);

    [Fact]
    public void Lists_the_luns_with_tgts_controller_and_reads_their_capacity()
    {
        using var session = IscsiSession.Open(Plain);
        Assert.Equal([0, 1, 2], session.ReportLuns());
        session.TestUnitReady(0);
        Assert.False(session.ReadCapacity(0).IsDisk);

        var lun1 = session.ReadCapacity(1);
        Assert.Equal(new LunCapacity(true, 512, (ulong)IscsiTarget.PlainLun1Bytes / 512, ThinProvisioned: true, UnmappedReadsZero: true), lun1);
        var lun2 = session.ReadCapacity(2);
        Assert.Equal((ulong)IscsiTarget.PlainLun2Bytes, lun2.Bytes);
        Assert.False(lun2.ThinProvisioned);
    }

    [Fact]
    public void Writes_and_reads_land_in_the_backing_file_and_unmap_punches_a_hole()
    {
        using var session = IscsiSession.Open(Plain);
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        session.Write(1, 2048, data, 512);
        using (var file = File.OpenHandle(target.PlainLunFile(1)))
        {
            var back = new byte[data.Length];
            RandomAccess.Read(file, back, 2048 * 512);
            Assert.Equal(data, back);
        }

        var read = new byte[data.Length];
        session.Read(1, 2048, read, 512);
        Assert.Equal(data, read);

        session.Unmap(1, 2048, 2048);
        session.Read(1, 2048, read, 512);
        Assert.All(read, b => Assert.Equal(0, b));
        Assert.Equal(0, new FileInfo(target.PlainLunFile(1)).Length - IscsiTarget.PlainLun1Bytes);
    }

    [Fact]
    public void Chap_logs_in_with_the_password_and_a_wrong_one_is_refused_in_libvirts_words()
    {
        using (var session = IscsiSession.Open(new IscsiLogin(IscsiTarget.Portal, IscsiTarget.ChapIqn, IscsiTarget.InitiatorIqn, IscsiTarget.ChapUser, target.ChapPassword, 10)))
        {
            Assert.Equal((ulong)IscsiTarget.ChapLun1Bytes, session.ReadCapacity(1).Bytes);
        }

        var wrong = Assert.Throws<VirtPoolException>(() => IscsiSession.Open(new IscsiLogin(IscsiTarget.Portal, IscsiTarget.ChapIqn, IscsiTarget.InitiatorIqn, IscsiTarget.ChapUser, "not-the-password", 10)));
        Assert.Equal(VirErrorCode.InternalError, wrong.Code);
        Assert.Equal("internal error: Failed to login: Failed to log in to target. Status: Authentication failure(513)", wrong.Message);

        var none = Assert.Throws<VirtPoolException>(() => IscsiSession.Open(new IscsiLogin(IscsiTarget.Portal, IscsiTarget.ChapIqn, IscsiTarget.InitiatorIqn, null, null, 10)));
        Assert.StartsWith("internal error: Failed to login: ", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_portal_nobody_listens_on_fails_the_connect()
    {
        var error = Assert.Throws<VirtPoolException>(() => IscsiSession.Open(Plain with { Portal = "127.0.0.1:3261" }));
        Assert.StartsWith("internal error: Failed to connect: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lun_list_parser_reads_the_lun_numbers_and_refuses_a_short_answer()
    {
        byte[] data = [0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0];
        Assert.Equal([0, 5], IscsiSession.ParseLunList(data)!);
        Assert.Null(IscsiSession.ParseLunList([0, 0, 0]));
        Assert.Equal([0], IscsiSession.ParseLunList(data.AsSpan(0, 16))!);
    }
}
