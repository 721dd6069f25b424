package mobilekit.generated

/**
 * Length buckets: the model file holds one signature per sequence length (all reading the same
 * weights), and each text runs in the smallest one that holds its tokens, [CLS] and [SEP]
 * included. A text longer than the largest bucket is truncated to it, as the tokenizer always did.
 * Cutting a right-padded [Encoding] to a length that holds all its tokens gives exactly what the
 * tokenizer gives padded to that length.
 */
object LengthBuckets {
    /** The smallest of [buckets] (ascending) that holds [tokenCount] tokens; the largest when none does. */
    fun select(tokenCount: Int, buckets: IntArray): Int {
        require(buckets.isNotEmpty()) { "there must be at least one bucket" }
        for (length in buckets) {
            if (length >= tokenCount) return length
        }
        return buckets.last()
    }

    /** [encoding] cut to [length] tokens; only padding may be cut off. */
    fun cut(encoding: Encoding, length: Int): Encoding {
        require(length in encoding.length..encoding.inputIds.size) {
            "cannot cut ${encoding.length} tokens (of ${encoding.inputIds.size}) to $length"
        }
        if (length == encoding.inputIds.size) return encoding
        return Encoding(
            encoding.inputIds.copyOf(length),
            encoding.attentionMask.copyOf(length),
            encoding.tokenTypeIds.copyOf(length),
        )
    }
}
