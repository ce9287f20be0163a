using System.Globalization;
using System.Security.Cryptography;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Local;

/// <summary>An encrypted volume's passphrase: found through the pool context, and handed to qemu-img.</summary>
internal static class VolumePassphrases
{
    /// <summary>
    /// libvirt's storageBackendCreateQemuImgSecretPath up to the value: exactly one &lt;secret&gt;, which
    /// must exist (by UUID or volume usage) and have a value. Null for an unencrypted volume.
    /// </summary>
    public static byte[]? Resolve(VolumeDefinition volume, Func<EncryptionSecret, byte[]>? passphrases)
    {
        if (volume.Target.Encryption is not { } enc)
        {
            return null;
        }

        if (enc.Secrets.Count != 1)
        {
            throw VirtPoolException.InvalidArg("A single <secret type='passphrase'...> element is expected in encryption description");
        }

        var secret = enc.Secrets[0];
        if (passphrases is null)
        {
            // No secret store behind this operation: no secret can match.
            throw secret.Uuid is { } uuid
                ? new VirtPoolException(VirErrorCode.NoSecret, $"no secret with matching uuid '{uuid:D}'", VirErrorDomain.Secret)
                : new VirtPoolException(VirErrorCode.NoSecret, $"no secret with matching usage '{secret.Usage}'", VirErrorDomain.Secret);
        }

        return passphrases(secret);
    }

    /// <summary>
    /// The passphrase in an anonymous memory file (memfd) that qemu-img opens through /proc. libvirt
    /// writes a temporary file instead; this one never reaches a disk and cannot be left behind.
    /// The caller closes the returned descriptor once qemu-img is done.
    /// </summary>
    public static int MemoryFile(byte[] passphrase, out string path)
    {
        var fd = LibC.MemfdCreate("virtpool-passphrase", LibC.MFD_CLOEXEC);
        if (fd < 0)
        {
            throw VirtPoolException.System("failed to open secret file for write", LibC.Errno);
        }

        try
        {
            unsafe
            {
                fixed (byte* p = passphrase)
                {
                    for (var done = 0; done < passphrase.Length;)
                    {
                        var n = LibC.Write(fd, p + done, passphrase.Length - done);
                        if (n < 0)
                        {
                            var errno = LibC.Errno;
                            if (errno == Errno.EINTR)
                            {
                                continue;
                            }

                            throw VirtPoolException.System("failed to write secret file", errno);
                        }

                        done += (int)n;
                    }
                }
            }
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }

        path = $"/proc/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/fd/{fd.ToString(CultureInfo.InvariantCulture)}";
        return fd;
    }

    public static void ZeroAll(params byte[]?[] secrets)
    {
        foreach (var secret in secrets)
        {
            if (secret is not null)
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }
}
