using System.Globalization;
using System.Text;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// The steps of a differential run and the ones where virtpool printed something else than virsh,
/// reported together as one failure: when the test asks (<see cref="ThrowIfAny"/>) and, for whatever
/// the test did not ask about, when the run ends (<see cref="ThrowIfUnreported"/>), so a test that
/// forgets to ask still fails.
/// </summary>
internal sealed class DifferenceLog(string subject)
{
    private readonly List<string> _commands = [];
    private readonly List<(int Step, string Text)> _differences = [];
    private int _reported;

    public int StepCount => _commands.Count;

    public IReadOnlyList<string> Differences => [.. _differences.Select(d => d.Text)];

    /// <summary>Records a step; returns its number (1-based).</summary>
    public int AddStep(string shown)
    {
        _commands.Add(shown);
        return _commands.Count;
    }

    public void AddDifference(int step, string text) => _differences.Add((step, text));

    /// <summary>Takes back a step's difference (the test declared it); false when the step had none.</summary>
    public bool Withdraw(int step)
    {
        var index = _differences.FindIndex(d => d.Step == step);
        if (index < 0)
        {
            return false;
        }

        _differences.RemoveAt(index);
        _reported = Math.Min(_reported, _differences.Count);
        return true;
    }

    /// <summary>Fails with every difference so far.</summary>
    public void ThrowIfAny()
    {
        if (_differences.Count == 0)
        {
            return;
        }

        _reported = _differences.Count;
        throw new XunitException(Report(string.Empty));
    }

    /// <summary>Fails with the differences no <see cref="ThrowIfAny"/> has reported yet (at the end of the run).</summary>
    public void ThrowIfUnreported()
    {
        if (_differences.Count <= _reported)
        {
            return;
        }

        _reported = _differences.Count;
        throw new XunitException(Report(" (found at the end of the test, which did not check these steps itself)"));
    }

    private string Report(string when)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{subject} in {_differences.Count} of {_commands.Count} steps{when} ('-' virsh, '+' virtpool, '$' marks line ends)\n");
        sb.Append("steps run: ").AppendJoin(" | ", _commands.Select((c, i) => $"#{i + 1} {c}")).Append('\n');
        foreach (var (_, text) in _differences)
        {
            sb.Append(text);
        }

        return sb.ToString();
    }
}
