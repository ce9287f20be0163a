using System.Security.Cryptography;
using System.Text;
using VirtPool.Core.Errors;

namespace VirtPool.Core.Secrets;

/// <summary>
/// How a secret value is kept at rest: AES-256-GCM under the host key, a fresh random nonce for every
/// write, and the secret's UUID as associated data (a value file copied over another secret's fails
/// to authenticate just like an edited one).
/// <para>File layout: "VPSV" magic, format version 1, 12-byte nonce, 16-byte tag, ciphertext.</para>
/// </summary>
internal static class SecretValueCipher
{
    public const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Magic = "VPSV"u8.ToArray();
    private const byte Version = 1;
    private static readonly int HeaderSize = Magic.Length + 1 + NonceSize + TagSize;

    public static byte[] Encrypt(ReadOnlySpan<byte> key, Guid uuid, ReadOnlySpan<byte> plaintext)
    {
        var blob = new byte[HeaderSize + plaintext.Length];
        Magic.CopyTo(blob, 0);
        blob[Magic.Length] = Version;
        var nonce = blob.AsSpan(Magic.Length + 1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        var tag = blob.AsSpan(Magic.Length + 1 + NonceSize, TagSize);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(HeaderSize), tag, AssociatedData(uuid));
        return blob;
    }

    /// <exception cref="VirtPoolException">The file is not a value file, or it fails to authenticate.</exception>
    public static byte[] Decrypt(ReadOnlySpan<byte> key, Guid uuid, ReadOnlySpan<byte> blob, string path)
    {
        if (blob.Length < HeaderSize || !blob[..Magic.Length].SequenceEqual(Magic) || blob[Magic.Length] != Version)
        {
            throw VirtPoolException.Internal($"secret value file '{path}' is not a VirtPool secret value (damaged or replaced)");
        }

        var plaintext = new byte[blob.Length - HeaderSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(
                blob.Slice(Magic.Length + 1, NonceSize),
                blob[HeaderSize..],
                blob.Slice(Magic.Length + 1 + NonceSize, TagSize),
                plaintext,
                AssociatedData(uuid));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new VirtPoolException(
                VirErrorCode.InternalError,
                $"secret value file '{path}' failed authentication: it was modified, belongs to another secret, or was written with another host key",
                VirErrorDomain.Secret,
                ex);
        }

        return plaintext;
    }

    private static byte[] AssociatedData(Guid uuid) => Encoding.ASCII.GetBytes("virtpool-secret-value:" + uuid.ToString("D"));
}
