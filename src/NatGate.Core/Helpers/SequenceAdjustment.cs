namespace NatGate.Core.Helpers;

/// <summary>
/// How far one direction's TCP sequence numbers have moved since a helper changed the length of
/// its data, as conntrack's <c>nf_ct_seqadj</c> keeps it (and IP Filter's <c>ap_session</c> with
/// its <c>aps_seqoff</c>): segments after the last changed one move by <see cref="OffsetAfter"/>,
/// the changed segment itself (a retransmission too) and those before it by
/// <see cref="OffsetBefore"/>. Positions are the sender's own sequence numbers, before any
/// adjustment. The same offsets move the other direction's acknowledgements (and SACK edges) back.
/// </summary>
internal struct SequenceAdjustment
{
    /// <summary>The sequence number (the sender's) of the last segment whose length changed.</summary>
    public uint CorrectionPosition;

    /// <summary>The shift for a segment that starts at or before <see cref="CorrectionPosition"/>.</summary>
    public int OffsetBefore;

    /// <summary>The shift for a segment that starts after it.</summary>
    public int OffsetAfter;

    /// <summary>Nothing has changed length in this direction.</summary>
    public readonly bool IsEmpty => OffsetBefore == 0 && OffsetAfter == 0;

    /// <summary>
    /// The segment at <paramref name="sequence"/> changed length by <paramref name="change"/>. A
    /// segment at or before the last changed one (a retransmission, rewritten again the same way)
    /// moves nothing further (nf_ct_seqadj_set).
    /// </summary>
    public void Record(uint sequence, int change)
    {
        if (change == 0)
        {
            return;
        }
        if (OffsetBefore == OffsetAfter || IsBefore(CorrectionPosition, sequence))
        {
            CorrectionPosition = sequence;
            OffsetBefore = OffsetAfter;
            OffsetAfter += change;
        }
    }

    /// <summary>A sequence number of this direction as the receiver sees it.</summary>
    public readonly uint Sequence(uint sequence)
        => unchecked(sequence + (uint)(IsBefore(CorrectionPosition, sequence) ? OffsetAfter : OffsetBefore));

    /// <summary>An acknowledgement (or SACK edge) of this direction's data, as its sender numbered it.</summary>
    public readonly uint Acknowledgement(uint acknowledgement)
        => unchecked(acknowledgement - (uint)(IsBefore(CorrectionPosition, acknowledgement - (uint)OffsetBefore) ? OffsetAfter : OffsetBefore));

    /// <summary>RFC 9293 section 3.4's comparison modulo 2^32: <paramref name="first"/> comes strictly before <paramref name="second"/>.</summary>
    public static bool IsBefore(uint first, uint second) => unchecked((int)(first - second)) < 0;
}
