using System.Diagnostics;
using System.Net.Sockets;

namespace VirtPool.Bench;

/// <summary>A file sent through a plain UNIX socket and written out again, with nothing in between.</summary>
internal static class PlainCopy
{
    public static async Task<double> RunAsync(string source, string destination)
    {
        var dir = Directory.CreateTempSubdirectory("virtpool-plain-");
        try
        {
            var path = Path.Combine(dir.FullName, "plain.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var sw = Stopwatch.StartNew();
            var receiver = Task.Run(() =>
            {
                using var peer = listener.Accept();
                using var output = File.OpenHandle(destination, FileMode.Create, FileAccess.Write);
                var buffer = GC.AllocateUninitializedArray<byte>(1 << 20);
                long offset = 0;
                int n;
                while ((n = peer.Receive(buffer)) > 0)
                {
                    RandomAccess.Write(output, buffer.AsSpan(0, n), offset);
                    offset += n;
                }
            });
            using (var sender = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                sender.Connect(new UnixDomainSocketEndPoint(path));
                sender.SendFile(source);
                sender.Shutdown(SocketShutdown.Send);
                await receiver.ConfigureAwait(false);
            }

            return sw.Elapsed.TotalSeconds;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
