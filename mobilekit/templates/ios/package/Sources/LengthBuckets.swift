/// Length buckets: the Core ML package holds one function per sequence length (all reading the
/// same weights), and each text runs in the smallest one that holds its tokens, [CLS] and [SEP]
/// included. A text longer than the largest bucket is truncated to it, as the tokenizer always
/// did. Cutting a right-padded encoding to a length that holds all its tokens gives exactly what
/// the tokenizer gives padded to that length.
enum LengthBuckets {
    /// The smallest of `buckets` (ascending) that holds `tokenCount` tokens; the largest when none does.
    static func select(tokenCount: Int, from buckets: [Int]) -> Int {
        precondition(!buckets.isEmpty, "there must be at least one bucket")
        return buckets.first { $0 >= tokenCount } ?? buckets[buckets.count - 1]
    }

    /// The tokens of `encoding` that are not padding.
    static func tokenCount(_ encoding: WordPieceTokenizer.Encoding) -> Int {
        encoding.attentionMask.reduce(0) { $0 + Int($1) }
    }

    /// `encoding` cut to `length` tokens; only padding may be cut off.
    static func cut(_ encoding: WordPieceTokenizer.Encoding, to length: Int) -> WordPieceTokenizer.Encoding {
        let tokens = tokenCount(encoding)
        precondition(
            length >= tokens && length <= encoding.inputIds.count,
            "cannot cut \(tokens) tokens (of \(encoding.inputIds.count)) to \(length)"
        )
        if length == encoding.inputIds.count {
            return encoding
        }
        return WordPieceTokenizer.Encoding(
            inputIds: Array(encoding.inputIds.prefix(length)),
            attentionMask: Array(encoding.attentionMask.prefix(length)),
            tokenTypeIds: Array(encoding.tokenTypeIds.prefix(length))
        )
    }
}
