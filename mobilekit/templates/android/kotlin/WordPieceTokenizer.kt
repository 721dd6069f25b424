package mobilekit.generated

import java.text.Normalizer

/**
 * A token that is split out of the text before WordPiece runs, as `tokenizers` does with the
 * `added_tokens` of `tokenizer.json`: the special tokens ([CLS], [SEP], [MASK]...) and any token
 * added to the tokenizer. Typed in a text, it becomes [id], whatever the vocabulary would make of it.
 *
 * @property content the text matched, exactly (char by char).
 * @property id the id the match becomes.
 * @property singleWord matches only where no word character (letter, digit, mark, `_`) touches it.
 * @property stripsLeft the match takes the white space before it along (it is dropped).
 * @property stripsRight the match takes the white space after it along (it is dropped).
 * @property normalized matched in the normalized text (lower-cased, accents stripped...) against the
 *   normalized content, instead of in the text as typed. Special tokens are not normalized: `[sep]`
 *   is not `[SEP]` for an uncased model either.
 */
data class AddedToken @JvmOverloads constructor(
    val content: String,
    val id: Int,
    val singleWord: Boolean = false,
    val stripsLeft: Boolean = false,
    val stripsRight: Boolean = false,
    val normalized: Boolean = false,
)

/**
 * How the model's tokenizer behaves, as its tokenizer files declare it.
 *
 * [stripAccents] is already resolved (Hugging Face's `strip_accents = None` means "same as
 * lower-casing"). [addedTokens] are matched in the text before anything else, in priority order
 * (for equally long matches at the same place): none by default.
 */
data class TokenizerSettings(
    val doLowerCase: Boolean,
    val stripAccents: Boolean,
    val tokenizeChineseChars: Boolean,
    val unkToken: String,
    val clsToken: String,
    val sepToken: String,
    val padToken: String,
    val maxInputCharsPerWord: Int,
    val addedTokens: List<AddedToken> = emptyList(),
)

/** Model inputs for one text: all three arrays have the model's sequence length. */
class Encoding(val inputIds: IntArray, val attentionMask: IntArray, val tokenTypeIds: IntArray) {
    /** Number of real tokens (including [CLS] and [SEP]); the rest is padding. */
    val length: Int get() = attentionMask.count { it != 0 }
}

/**
 * BERT WordPiece tokenization in plain Kotlin, written to give exactly the ids of the Hugging Face
 * (Rust `tokenizers`) BertTokenizerFast the model was trained with:
 *
 * 1. added tokens ([CLS], [SEP], [MASK]... and any token added to the tokenizer, see [AddedToken])
 *    are split out of the raw text first, each becoming its own id;
 * 2. BertNormalizer, on each piece between them: drop NUL, U+FFFD and control/format/unassigned/
 *    private-use characters, map white space to ' ', put spaces around CJK ideographs, strip
 *    accents (NFD, then drop non-spacing marks), lower-case; then the added tokens that are matched
 *    normalized are split out of the result;
 * 3. BertPreTokenizer: split on white space, and isolate every punctuation character;
 * 4. WordPiece: greedy longest match with "##" continuation pieces, [UNK] for a word that cannot
 *    be covered or that has more than [TokenizerSettings.maxInputCharsPerWord] code points.
 *
 * Code points are walked with `Character.codePointAt`/`charCount` (Java 5, every Android level),
 * never with `String.codePoints()` (API 24). Immutable, so safe to share between threads.
 */
class WordPieceTokenizer(vocab: List<String>, val settings: TokenizerSettings) {
    private val ids: HashMap<String, Int> = HashMap(vocab.size * 2)
    private val unkId: Int
    private val clsId: Int
    private val sepId: Int
    private val padId: Int

    /** Added tokens matched in the text as typed, and in the normalized text. */
    private val rawTokens: AddedTokenMatcher
    private val normalizedTokens: AddedTokenMatcher

    init {
        // The last occurrence wins, as when Python reads vocab.txt into a dict.
        vocab.forEachIndexed { index, token -> ids[token] = index }
        unkId = idOf(settings.unkToken, "unknown")
        clsId = idOf(settings.clsToken, "classification")
        sepId = idOf(settings.sepToken, "separator")
        padId = idOf(settings.padToken, "padding")
        rawTokens = AddedTokenMatcher(settings.addedTokens.filter { !it.normalized }) { it.content }
        normalizedTokens = AddedTokenMatcher(settings.addedTokens.filter { it.normalized }) { normalize(it.content) }
        require(settings.maxInputCharsPerWord > 0) { "maxInputCharsPerWord must be positive" }
    }

    private fun idOf(token: String, what: String): Int =
        ids[token] ?: throw IllegalArgumentException("the $what token '$token' is not in the vocabulary")

    val vocabularySize: Int get() = ids.size

    /**
     * [CLS] + tokens + [SEP], truncated so that at most [maxTokens] positions are used, then padded
     * with the padding id to [sequenceLength].
     */
    @JvmOverloads
    fun encode(text: String, sequenceLength: Int, maxTokens: Int = sequenceLength): Encoding {
        require(sequenceLength >= 2) { "sequenceLength must be at least 2, was $sequenceLength" }
        require(maxTokens in 2..sequenceLength) { "maxTokens must be in 2..$sequenceLength, was $maxTokens" }
        val body = tokenIds(text, maxTokens - 2)
        val inputIds = IntArray(sequenceLength) { padId }
        val attentionMask = IntArray(sequenceLength)
        inputIds[0] = clsId
        for (i in body.indices) inputIds[i + 1] = body[i]
        inputIds[body.size + 1] = sepId
        for (i in 0 until body.size + 2) attentionMask[i] = 1
        return Encoding(inputIds, attentionMask, IntArray(sequenceLength))
    }

    /**
     * The tokens of [text] as strings, handy for debugging: WordPiece tokens, and the content of the
     * added tokens typed in it; no [CLS] or [SEP] around them.
     */
    fun tokenize(text: String): List<String> {
        val tokens = ArrayList<String>()
        forEachToken(text) { token, _ ->
            tokens.add(token)
            true
        }
        return tokens
    }

    /** Token ids of [text], stopping once [limit] ids are collected (truncation keeps the first ones). */
    fun tokenIds(text: String, limit: Int): IntArray {
        val out = IntList()
        forEachToken(text) { _, id ->
            out.add(id)
            out.size < limit
        }
        return out.toArray(limit)
    }

    /**
     * The pipeline of `tokenizers`: added tokens are split out of the raw text first; each piece
     * between them is normalized on its own, then split around the normalized added tokens, and what
     * is left goes through BertPreTokenizer and WordPiece. [emit] gets each token with its id, in
     * order, and returns false to stop there.
     */
    private fun forEachToken(text: String, emit: (token: String, id: Int) -> Boolean) {
        for (raw in rawTokens.split(text)) {
            if (raw.token != null) {
                if (!emit(raw.token.content, raw.token.id)) return
                continue
            }
            val normalized = normalize(text.substring(raw.start, raw.end))
            for (piece in normalizedTokens.split(normalized)) {
                val more = if (piece.token != null) {
                    emit(piece.token.content, piece.token.id)
                } else {
                    splitWords(normalized, piece.start, piece.end, emit)
                }
                if (!more) return
            }
        }
    }

    /** BertPreTokenizer on [text] from [start] to [end], then WordPiece on each word; false once [emit] stops. */
    private fun splitWords(text: String, start: Int, end: Int, emit: (String, Int) -> Boolean): Boolean {
        val word = StringBuilder()
        var i = start
        while (i < end) {
            val cp = Character.codePointAt(text, i)
            i += Character.charCount(cp)
            if (isWhitespace(cp)) {
                if (!flushWord(word, emit)) return false
            } else if (isPunctuation(cp)) {
                if (!flushWord(word, emit)) return false
                word.appendCodePoint(cp)
                if (!flushWord(word, emit)) return false
            } else {
                word.appendCodePoint(cp)
            }
        }
        return flushWord(word, emit)
    }

    /** WordPiece for the word collected so far, which is then cleared; false once [emit] says stop. */
    private fun flushWord(word: StringBuilder, emit: (String, Int) -> Boolean): Boolean {
        if (word.isEmpty()) return true
        val more = wordPiece(word.toString(), emit)
        word.setLength(0)
        return more
    }

    /** Hugging Face BertNormalizer (clean_text, handle_chinese_chars, strip_accents, lowercase, in that order). */
    fun normalize(text: String): String {
        val cleaned = StringBuilder(text.length + 8)
        var i = 0
        while (i < text.length) {
            val cp = Character.codePointAt(text, i)
            i += Character.charCount(cp)
            if (isControl(cp)) continue
            when {
                isWhitespace(cp) -> cleaned.append(' ')
                settings.tokenizeChineseChars && isChineseChar(cp) -> cleaned.append(' ').appendCodePoint(cp).append(' ')
                else -> cleaned.appendCodePoint(cp)
            }
        }
        var result = cleaned.toString()
        if (settings.stripAccents) result = stripAccents(result)
        if (settings.doLowerCase) result = lowerCase(result)
        return result
    }

    /** WordPiece on one word: greedy longest match, "##" pieces after the first; [UNK] for the whole word. */
    private fun wordPiece(word: String, emit: (String, Int) -> Boolean): Boolean {
        if (word.codePointCount(0, word.length) > settings.maxInputCharsPerWord) return emit(settings.unkToken, unkId)
        val pieces = ArrayList<String>()
        var start = 0
        while (start < word.length) {
            var end = word.length
            var found: String? = null
            while (start < end) {
                val piece = if (start == 0) word.substring(start, end) else "##" + word.substring(start, end)
                if (ids.containsKey(piece)) {
                    found = piece
                    break
                }
                end -= Character.charCount(word.codePointBefore(end))
            }
            if (found == null) return emit(settings.unkToken, unkId)
            pieces.add(found)
            start = end
        }
        return pieces.all { emit(it, ids.getValue(it)) }
    }

    companion object {
        /** White space as the BERT pre-tokenizer sees it: U+0020 and what clean_text turns into it. */
        @JvmStatic
        fun isWhitespace(cp: Int): Boolean = cp == 0x20 || BertUnicode.isWhitespace(cp)

        /** What clean_text drops: controls (but tab, LF, CR), format, private use, NUL, U+FFFD. */
        @JvmStatic
        fun isControl(cp: Int): Boolean = BertUnicode.isRemoved(cp)

        /** BERT's punctuation: ASCII non-alphanumeric printable characters and the P* categories `tokenizers` knows. */
        @JvmStatic
        fun isPunctuation(cp: Int): Boolean = BertUnicode.isPunctuation(cp)

        /** CJK ideographs as the Rust `tokenizers` BertNormalizer defines them. */
        @JvmStatic
        fun isChineseChar(cp: Int): Boolean = BertUnicode.isChinese(cp)

        private fun stripAccents(text: String): String {
            val decomposed = Normalizer.normalize(text, Normalizer.Form.NFD)
            val out = StringBuilder(decomposed.length)
            var i = 0
            while (i < decomposed.length) {
                val cp = Character.codePointAt(decomposed, i)
                i += Character.charCount(cp)
                if (!BertUnicode.isNonspacingMark(cp)) out.appendCodePoint(cp)
            }
            return out.toString()
        }

        /**
         * Per-code-point full lower-casing, as Rust's `char::to_lowercase` (no context: a final
         * capital sigma becomes σ). U+0130 is the only unconditional multi-character mapping.
         */
        private fun lowerCase(text: String): String {
            val out = StringBuilder(text.length)
            var i = 0
            while (i < text.length) {
                val cp = Character.codePointAt(text, i)
                i += Character.charCount(cp)
                if (cp == 0x130) out.append("i\u0307") else out.appendCodePoint(Character.toLowerCase(cp))
            }
            return out.toString()
        }
    }
}

/** A growable int array without boxing. */
internal class IntList {
    private var data = IntArray(16)
    var size: Int = 0
        private set

    fun add(value: Int) {
        if (size == data.size) data = data.copyOf(size * 2)
        data[size++] = value
    }

    operator fun get(index: Int): Int = data[index]

    fun toArray(limit: Int): IntArray = data.copyOf(minOf(size, limit))
}

/**
 * Finds added tokens in a text exactly as `AddedVocabulary::find_matches` does in `tokenizers`:
 * leftmost-longest matches that do not overlap, then each token's options (single word, strip left
 * or right) applied to the match.
 *
 * [pattern] gives what to look for in the text for each token (its content, or the content
 * normalized); a token with an empty pattern is never matched.
 */
internal class AddedTokenMatcher(tokens: List<AddedToken>, pattern: (AddedToken) -> String) {
    /** A piece of a split text: an added token with the white space it strips, or text between tokens (null). */
    class Piece(val token: AddedToken?, val start: Int, val end: Int)

    /** (pattern, token) by the pattern's first char, longest first (in the given order among equals). */
    private val candidates: Map<Char, List<Pair<String, AddedToken>>> = tokens
        .map { pattern(it) to it }
        .filter { it.first.isNotEmpty() }
        .sortedByDescending { it.first.length } // stable: equals keep their order
        .groupBy { it.first[0] }

    /** [text] cut into consecutive pieces that cover it. */
    fun split(text: String): List<Piece> {
        if (candidates.isEmpty()) return listOf(Piece(null, 0, text.length))
        val pieces = ArrayList<Piece>()
        var pieceStart = 0
        var position = 0
        while (position < text.length) {
            val found = candidates[text[position]]?.firstOrNull { text.startsWith(it.first, position) }
            if (found == null) {
                position++
                continue
            }
            val (matched, token) = found
            var start = position
            var end = position + matched.length
            position = end // the search goes on after the match, whether it is kept or not
            if (token.singleWord && (endsWithWord(text, start) || startsWithWord(text, end))) continue
            if (token.stripsLeft) {
                // White space a previous match already took stays with it.
                start = minOf(maxOf(whitespaceStartBefore(text, start), pieceStart), end)
            }
            if (token.stripsRight) end = whitespaceEndAfter(text, end)
            if (pieceStart < start) pieces.add(Piece(null, pieceStart, start))
            pieces.add(Piece(token, start, end))
            pieceStart = end
        }
        if (pieceStart < text.length) pieces.add(Piece(null, pieceStart, text.length))
        return pieces
    }

    private companion object {
        fun endsWithWord(text: String, index: Int): Boolean = index > 0 && isWordCharacter(Character.codePointBefore(text, index))

        fun startsWithWord(text: String, index: Int): Boolean = index < text.length && isWordCharacter(Character.codePointAt(text, index))

        /** Where the white space that ends right before [index] starts. */
        fun whitespaceStartBefore(text: String, index: Int): Int {
            var i = index
            while (i > 0) {
                val cp = Character.codePointBefore(text, i)
                if (!isUnicodeWhitespace(cp)) break
                i -= Character.charCount(cp)
            }
            return i
        }

        /** Where the white space that starts at [index] ends. */
        fun whitespaceEndAfter(text: String, index: Int): Int {
            var i = index
            while (i < text.length) {
                val cp = Character.codePointAt(text, i)
                if (!isUnicodeWhitespace(cp)) break
                i += Character.charCount(cp)
            }
            return i
        }

        /** Rust's `char::is_whitespace` (Unicode White_Space), which lstrip/rstrip of added tokens use. */
        fun isUnicodeWhitespace(cp: Int): Boolean = when (cp) {
            0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true
            else -> cp in 0x2000..0x200A
        }

        /**
         * `\w` of Rust's `regex` crate, which `tokenizers` uses for single-word tokens: alphabetic,
         * marks, decimal digits, connector punctuation and joiners.
         */
        fun isWordCharacter(cp: Int): Boolean = when (Character.getType(cp)) {
            Character.NON_SPACING_MARK.toInt(), Character.COMBINING_SPACING_MARK.toInt(),
            Character.ENCLOSING_MARK.toInt(), Character.DECIMAL_DIGIT_NUMBER.toInt(),
            Character.CONNECTOR_PUNCTUATION.toInt(),
            -> true

            else -> Character.isAlphabetic(cp) || cp == 0x200C || cp == 0x200D
        }
    }
}
