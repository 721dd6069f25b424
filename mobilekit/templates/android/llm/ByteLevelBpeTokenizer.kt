package mobilekit.generated

// Static source shipped by mobilekit (templates/android/llm/). The generator copies this file into
// an SDK as is, except for the first line: it must stay exactly `package mobilekit.generated` and
// is rewritten to the SDK's package. Everything model-specific (vocabulary, merges, added tokens,
// pre-tokenizer, Unicode classes) is in the asset written by mobilekit/sdk/bpe_data.py, whose
// docstring specifies the format. Compiles against android.jar API 23 (Java 7 APIs + Kotlin stdlib);
// uses no platform Unicode data (Character types, java.text.Normalizer), which varies by Android version.

import java.io.InputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Byte-level BPE (GPT-2, SmolLM2, Qwen, Llama-3 style) with exactly the ids of the Hugging Face
 * `tokenizers` library the model was trained with:
 *
 * 1. added tokens (`<|im_start|>`...) typed in the text are split out first, each becoming its id;
 * 2. the pieces between them are normalized (NFC, when the model says so, from tables in the asset:
 *    `tokenizers` normalizes with Unicode 9 data, the phone's ICU with its own), then split around
 *    the added tokens that match normalized text;
 * 3. the pre-tokenizer cuts each piece with the model's regex (GPT-2, Llama-3 or Qwen2), run by a
 *    hand-written scanner over code points whose letter/number/space classes come from the asset
 *    (measured from `tokenizers`, so they do not depend on this phone's Unicode version);
 * 4. each cut is turned into UTF-8 bytes and merged by BPE rank, as `tokenizers` does.
 *
 * [decode] turns ids back into text (invalid UTF-8 becomes U+FFFD, as Rust's `from_utf8_lossy`);
 * a [StreamingDecoder] does the same id by id. Immutable after [load]: safe to share between threads.
 */
class ByteLevelBpeTokenizer private constructor(reader: AssetReader) {
    private val nfc: Nfc?
    private val steps: IntArray
    private val classes: UnicodeClasses
    private val folds: HashMap<Int, Int> = HashMap()
    private val byteIds: IntArray
    private val merges: PairMap
    private val encodeMap: HashMap<String, Int>? // byte string (one char per byte) -> id, for ignore_merges
    private val tokenBytes: Array<ByteArray?>
    private val special: BooleanArray
    private val rawTokens: AddedTokenMatcher
    private val normalizedTokens: AddedTokenMatcher
    private val prefixIds: IntArray
    private val suffixIds: IntArray

    /** The added tokens (special or not) of the model, in id order. */
    val addedTokens: List<AddedToken>

    init {
        val flags = reader.int()
        val ignoreMerges = flags and 2 != 0
        steps = reader.ints(reader.count())
        classes = UnicodeClasses(reader.ints(2 * reader.count()))
        repeat(reader.count()) { folds[reader.int()] = reader.int() }
        byteIds = reader.ints(256)
        merges = PairMap(reader.ints(3 * reader.count()))
        val entries = readTokenEntries(reader)
        tokenBytes = arrayOfNulls(entries.maxId + 1)
        special = BooleanArray(entries.maxId + 1)
        encodeMap = if (ignoreMerges) HashMap(entries.ids.size * 2) else null
        for (i in entries.ids.indices) addTokenEntry(entries.ids[i], entries.flags[i], entries.bytes[i])
        addedTokens = List(reader.count()) {
            val id = reader.int()
            val tokenFlags = reader.int()
            AddedToken(reader.string(), id, tokenFlags)
        }
        rawTokens = AddedTokenMatcher(addedTokens.filter { !it.normalized }, classes)
        normalizedTokens = AddedTokenMatcher(addedTokens.filter { it.normalized }, classes)
        prefixIds = reader.ints(reader.count())
        suffixIds = reader.ints(reader.count())
        val nfcTables = Nfc(reader.ints(2 * reader.count()), reader.ints(reader.count()), reader.ints(3 * reader.count()))
        nfc = if (flags and 1 != 0) nfcTables else null
        reader.requireEnd()
    }

    private class TokenEntries(val ids: IntArray, val flags: IntArray, val bytes: Array<ByteArray>, val maxId: Int)

    private fun readTokenEntries(reader: AssetReader): TokenEntries {
        val count = reader.count()
        val ids = IntArray(count)
        val flags = IntArray(count)
        val bytes = Array(count) { i ->
            ids[i] = reader.int()
            flags[i] = reader.int()
            reader.bytes()
        }
        val maxId = ids.maxOrNull() ?: -1
        require(maxId < MAX_ID) { "corrupt BPE asset (token id $maxId)" } // the decode table is indexed by id
        return TokenEntries(ids, flags, bytes, maxId)
    }

    private fun addTokenEntry(id: Int, flags: Int, bytes: ByteArray) {
        if (flags and TOKEN_DECODES != 0) {
            tokenBytes[id] = bytes
            special[id] = flags and TOKEN_SPECIAL != 0
        }
        if (flags and TOKEN_ENCODES != 0) encodeMap?.put(byteKey(bytes, bytes.size), id)
    }

    /** One more than the largest id [decode] knows. */
    val vocabularySize: Int get() = tokenBytes.size

    /** Whether [decode] with `skipSpecialTokens = true` drops [id]. */
    fun isSpecial(id: Int): Boolean = id in special.indices && special[id]

    /**
     * The ids of [text], as `tokenizer(text, add_special_tokens=False)` in Python. With
     * [addSpecialTokens], the ids the model's post-processor puts around a text (a BOS for Llama-3,
     * none for SmolLM2 or Qwen) are added, as `tokenizer(text)` does.
     */
    @JvmOverloads
    fun encode(text: String, addSpecialTokens: Boolean = false): IntArray {
        val out = IntList()
        if (addSpecialTokens) prefixIds.forEach { out.add(it) }
        val codePoints = codePointsOf(text)
        for (piece in rawTokens.split(codePoints)) {
            if (piece.id >= 0) {
                out.add(piece.id)
                continue
            }
            var segment = codePoints.copyOfRange(piece.start, piece.end)
            if (nfc != null) segment = nfc.normalize(segment)
            for (inner in normalizedTokens.split(segment)) {
                if (inner.id >= 0) out.add(inner.id) else encodeText(segment.copyOfRange(inner.start, inner.end), out)
            }
        }
        if (addSpecialTokens) suffixIds.forEach { out.add(it) }
        return out.toArray()
    }

    /**
     * The text of [ids], as `tokenizer.decode(ids, skip_special_tokens=...)` in Python: the tokens'
     * bytes joined, invalid UTF-8 replaced by U+FFFD. Unknown ids are skipped, as in `tokenizers`.
     */
    @JvmOverloads
    fun decode(ids: IntArray, skipSpecialTokens: Boolean = false): String {
        val bytes = ByteList()
        for (id in ids) appendTokenBytes(id, skipSpecialTokens, bytes)
        val out = StringBuilder(bytes.size)
        Utf8.decode(bytes.data, bytes.size, true, out)
        return out.toString()
    }

    /** A decoder fed one id at a time (while generating); see [StreamingDecoder]. */
    @JvmOverloads
    fun streamingDecoder(skipSpecialTokens: Boolean = false): StreamingDecoder = StreamingDecoder(this, skipSpecialTokens)

    private fun appendTokenBytes(id: Int, skipSpecialTokens: Boolean, out: ByteList) {
        if (id !in tokenBytes.indices) return
        val bytes = tokenBytes[id] ?: return
        if (skipSpecialTokens && special[id]) return
        out.add(bytes, bytes.size)
    }

    // -- pre-tokenizer and BPE --------------------------------------------------------------------

    /** The pre-tokenizer steps on one piece of text, then BPE on each of the cuts. */
    private fun encodeText(text: IntArray, out: IntList) {
        var pieces = listOf(text)
        for (step in steps) {
            val next = ArrayList<IntArray>(pieces.size * 2)
            for (piece in pieces) applyStep(step, piece, next)
            pieces = next
        }
        val bytes = ByteList()
        for (piece in pieces) {
            bytes.clear()
            Utf8.encode(piece, bytes)
            bpe(bytes, out)
        }
    }

    private fun applyStep(step: Int, piece: IntArray, out: MutableList<IntArray>) {
        when (step) {
            STEP_PREFIX_SPACE -> out.add(if (piece[0] == SPACE) piece else intArrayOf(SPACE) + piece)

            STEP_DIGITS_ISOLATED -> splitNumeric(piece, isolated = true, out = out)

            STEP_DIGITS_CONTIGUOUS -> splitNumeric(piece, isolated = false, out = out)

            STEP_REGEX_GPT2, STEP_REGEX_LLAMA3, STEP_REGEX_QWEN2 -> {
                var start = 0
                while (start < piece.size) {
                    val end = regexMatchEnd(step, piece, start)
                    out.add(piece.copyOfRange(start, end))
                    start = end
                }
            }

            else -> throw IllegalStateException("unknown pre-tokenizer step $step")
        }
    }

    /** The Digits pre-tokenizer: numeric characters alone ([isolated]) or in runs, and the text between. */
    private fun splitNumeric(piece: IntArray, isolated: Boolean, out: MutableList<IntArray>) {
        var start = 0
        while (start < piece.size) {
            val numeric = classes.has(piece[start], CLASS_NUMERIC)
            var end = start + 1
            if (!numeric || !isolated) {
                while (end < piece.size && classes.has(piece[end], CLASS_NUMERIC) == numeric) end++
            }
            out.add(piece.copyOfRange(start, end))
            start = end
        }
    }

    /** Where the model's regex match that starts at [i] ends (the regexes match every character). */
    private fun regexMatchEnd(step: Int, c: IntArray, i: Int): Int {
        val contraction = contractionEnd(c, i, ignoreCase = step != STEP_REGEX_GPT2)
        if (contraction > 0) return contraction
        return when (step) {
            STEP_REGEX_GPT2 -> gpt2End(c, i)
            STEP_REGEX_LLAMA3 -> llamaEnd(c, i, maxDigits = 3)
            else -> llamaEnd(c, i, maxDigits = 1)
        }
    }

    /** `'s|'t|'re|'ve|'m|'ll|'d`, case-insensitive as Oniguruma folds (`'S`, `'ſ`) for Llama-3/Qwen2. */
    private fun contractionEnd(c: IntArray, i: Int, ignoreCase: Boolean): Int {
        if (c[i] != APOSTROPHE || i + 1 >= c.size) return -1
        val second = contractionLetter(c[i + 1], ignoreCase)
        val third = if (i + 2 < c.size) contractionLetter(c[i + 2], ignoreCase) else 0
        return when (second) {
            's'.code, 't'.code, 'm'.code, 'd'.code -> i + 2
            'r'.code, 'v'.code -> if (third == 'e'.code) i + 3 else -1
            'l'.code -> if (third == 'l'.code) i + 3 else -1
            else -> -1
        }
    }

    private fun contractionLetter(cp: Int, ignoreCase: Boolean): Int = if (ignoreCase) {
        folds[cp] ?: 0
    } else if (cp in 'a'.code..'z'.code) {
        cp
    } else {
        0
    }

    /** GPT-2: ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (contractions handled before). */
    private fun gpt2End(c: IntArray, i: Int): Int {
        val nextKind = if (i + 1 < c.size) kindOf(c[i + 1]) else SPACE_KIND
        if (c[i] == SPACE && nextKind != SPACE_KIND) return runEnd(c, i + 1, nextKind) // ` ?` joins the run after it
        val kind = kindOf(c[i])
        return if (kind == SPACE_KIND) whitespaceEnd(c, i) else runEnd(c, i, kind)
    }

    /**
     * Llama-3 ([maxDigits] 3) and Qwen2 (1): `[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
     * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (contractions handled before).
     */
    private fun llamaEnd(c: IntArray, i: Int, maxDigits: Int): Int {
        val first = c[i]
        val kind = kindOf(first)
        val nextKind = if (i + 1 < c.size) kindOf(c[i + 1]) else -1
        if (kind != LETTER_KIND && kind != NUMBER_KIND && !isLineBreak(first) && nextKind == LETTER_KIND) {
            return runEnd(c, i + 1, LETTER_KIND)
        }
        if (kind == LETTER_KIND) return runEnd(c, i, LETTER_KIND)
        if (kind == NUMBER_KIND) {
            var end = i + 1
            while (end < c.size && end - i < maxDigits && kindOf(c[end]) == NUMBER_KIND) end++
            return end
        }
        val otherStart = if (first == SPACE && nextKind == OTHER_KIND) {
            i + 1
        } else if (kind == OTHER_KIND) {
            i
        } else {
            -1
        }
        if (otherStart >= 0) {
            var end = runEnd(c, otherStart, OTHER_KIND)
            while (end < c.size && isLineBreak(c[end])) end++
            return end
        }
        // White space: `\s*[\r\n]+` ends after the run's last line break, if it has one.
        val end = runEnd(c, i, SPACE_KIND)
        for (j in end - 1 downTo i) if (isLineBreak(c[j])) return j + 1
        return whitespaceEnd(c, i)
    }

    /** `\s+(?!\S)|\s+`: a run of white space, less its last character when a non-space follows. */
    private fun whitespaceEnd(c: IntArray, i: Int): Int {
        val end = runEnd(c, i, SPACE_KIND)
        return if (end == c.size || end - i == 1) end else end - 1
    }

    private fun runEnd(c: IntArray, start: Int, kind: Int): Int {
        var end = start
        while (end < c.size && kindOf(c[end]) == kind) end++
        return end
    }

    /** Letter, number, white space, or other (what `[^\s\p{L}\p{N}]` matches). */
    private fun kindOf(cp: Int): Int {
        val bits = classes.bits(cp)
        return when {
            bits and CLASS_LETTER != 0 -> LETTER_KIND
            bits and CLASS_NUMBER != 0 -> NUMBER_KIND
            bits and CLASS_SPACE != 0 -> SPACE_KIND
            else -> OTHER_KIND
        }
    }

    /**
     * BPE on the UTF-8 bytes of one pre-tokenized piece, exactly as `tokenizers`' `Word::merge_all`:
     * a heap of candidate merges ordered by (rank, position), entries checked when popped.
     */
    private fun bpe(bytes: ByteList, out: IntList) {
        if (bytes.size == 0) return
        encodeMap?.get(byteKey(bytes.data, bytes.size))?.let {
            out.add(it) // ignore_merges: a piece that is a whole token is that token
            return
        }
        val ids = IntList()
        for (i in 0 until bytes.size) {
            val id = byteIds[bytes.data[i].toInt() and 0xFF]
            if (id != NO_ID) ids.add(id) // no id: dropped, as tokenizers does without an unk token
        }
        val n = ids.size
        if (n == 0) return
        val symbols = ids.toArray()
        val next = IntArray(n) { if (it + 1 < n) it + 1 else -1 }
        val prev = IntArray(n) { it - 1 }
        val removed = BooleanArray(n)
        val heap = MergeHeap(n)
        for (i in 0 until n - 1) pushMerge(heap, symbols[i], symbols[i + 1], i)
        while (heap.size > 0) {
            val pos = heap.topPosition()
            val newId = heap.topNewId()
            heap.pop()
            val right = next[pos]
            if (removed[pos] || right == -1 || merges.newId(symbols[pos], symbols[right]) != newId) continue
            symbols[pos] = newId
            removed[right] = true
            next[pos] = next[right]
            if (next[pos] != -1) prev[next[pos]] = pos
            if (prev[pos] >= 0) pushMerge(heap, symbols[prev[pos]], symbols[pos], prev[pos])
            if (next[pos] != -1) pushMerge(heap, symbols[pos], symbols[next[pos]], pos)
        }
        var i = 0
        while (i != -1) {
            out.add(symbols[i])
            i = next[i]
        }
    }

    private fun pushMerge(heap: MergeHeap, left: Int, right: Int, position: Int) {
        val rank = merges.rank(left, right)
        if (rank >= 0) heap.push(rank, position, merges.newId(left, right))
    }

    companion object {
        private const val MAGIC = "MKBPE001"
        private const val NO_ID = -1 // 0xFFFFFFFF in the asset
        private const val MAX_ID = 1 shl 24
        private const val TOKEN_SPECIAL = 1
        private const val TOKEN_ENCODES = 2
        private const val TOKEN_DECODES = 4
        private const val STEP_PREFIX_SPACE = 1
        private const val STEP_DIGITS_ISOLATED = 2
        private const val STEP_DIGITS_CONTIGUOUS = 3
        private const val STEP_REGEX_GPT2 = 4
        private const val STEP_REGEX_LLAMA3 = 5
        private const val STEP_REGEX_QWEN2 = 6
        private const val CLASS_LETTER = 1
        private const val CLASS_NUMBER = 2
        private const val CLASS_SPACE = 4
        private const val CLASS_NUMERIC = 8
        private const val CLASS_WORD = 16
        private const val CLASS_STRIP = 32
        private const val LETTER_KIND = 0
        private const val NUMBER_KIND = 1
        private const val SPACE_KIND = 2
        private const val OTHER_KIND = 3
        private const val SPACE = 0x20
        private const val APOSTROPHE = 0x27

        /** Reads the asset written by mobilekit (`tokenizer.mkbpe`); IllegalArgumentException if malformed. */
        @JvmStatic
        fun load(asset: ByteArray): ByteLevelBpeTokenizer {
            val reader = AssetReader(asset)
            reader.requireMagic(MAGIC)
            return ByteLevelBpeTokenizer(reader)
        }

        /** [load] from a stream (e.g. `context.assets.open(...)`), which is read to its end, not closed. */
        @JvmStatic
        fun load(asset: InputStream): ByteLevelBpeTokenizer = load(asset.readBytes())

        private fun isLineBreak(cp: Int): Boolean = cp == 0x0A || cp == 0x0D

        /** A HashMap key for bytes: one char per byte. */
        private fun byteKey(bytes: ByteArray, size: Int): String {
            val chars = CharArray(size) { (bytes[it].toInt() and 0xFF).toChar() }
            return String(chars)
        }

        /** Code points of [text]; a lone surrogate (not valid Unicode text) becomes U+FFFD. */
        private fun codePointsOf(text: String): IntArray {
            val out = IntList()
            var i = 0
            while (i < text.length) {
                val cp = Character.codePointAt(text, i)
                i += Character.charCount(cp)
                out.add(if (cp in 0xD800..0xDFFF) 0xFFFD else cp)
            }
            return out.toArray()
        }
    }

    /**
     * A token split out of the text before anything else, as the `added_tokens` of `tokenizer.json`.
     *
     * @property pattern the text matched (the content, normalized for a [normalized] token).
     * @property special skipped by `decode(..., skipSpecialTokens = true)`.
     */
    class AddedToken internal constructor(val pattern: String, val id: Int, flags: Int) {
        val special: Boolean = flags and 1 != 0
        val normalized: Boolean = flags and 2 != 0
        val stripsLeft: Boolean = flags and 4 != 0
        val stripsRight: Boolean = flags and 8 != 0
        val singleWord: Boolean = flags and 16 != 0
        internal val codePoints: IntArray = codePointsOf(pattern)

        override fun toString(): String = "AddedToken($pattern, $id)"
    }

    /**
     * Turns ids into text one id at a time, for streaming generated tokens: [push] returns only whole
     * characters and keeps the bytes of a character that later ids may complete, so the pieces never
     * hold half of an emoji; [flush] at the end returns what is left (a U+FFFD for an unfinished
     * character). All pieces joined equal [ByteLevelBpeTokenizer.decode] of all ids. Not thread-safe:
     * one per generation.
     */
    class StreamingDecoder internal constructor(private val tokenizer: ByteLevelBpeTokenizer, private val skipSpecialTokens: Boolean) {
        private val pending = ByteList()

        /** The text [id] completes; empty while a character is still unfinished. */
        fun push(id: Int): String {
            tokenizer.appendTokenBytes(id, skipSpecialTokens, pending)
            val out = StringBuilder()
            val used = Utf8.decode(pending.data, pending.size, false, out)
            pending.removeFirst(used)
            return out.toString()
        }

        /** What is left at the end of the stream; the decoder is then empty again. */
        fun flush(): String {
            val out = StringBuilder()
            Utf8.decode(pending.data, pending.size, true, out)
            pending.clear()
            return out.toString()
        }
    }

    /** UTF-8 both ways, decoding invalid bytes exactly as Rust's `String::from_utf8_lossy`. */
    private object Utf8 {
        fun encode(codePoints: IntArray, out: ByteList) {
            for (cp in codePoints) {
                when {
                    cp < 0x80 -> out.add(cp)

                    cp < 0x800 -> {
                        out.add(0xC0 or (cp shr 6))
                        out.add(0x80 or (cp and 0x3F))
                    }

                    cp < 0x10000 -> {
                        out.add(0xE0 or (cp shr 12))
                        out.add(0x80 or ((cp shr 6) and 0x3F))
                        out.add(0x80 or (cp and 0x3F))
                    }

                    else -> {
                        out.add(0xF0 or (cp shr 18))
                        out.add(0x80 or ((cp shr 12) and 0x3F))
                        out.add(0x80 or ((cp shr 6) and 0x3F))
                        out.add(0x80 or (cp and 0x3F))
                    }
                }
            }
        }

        /**
         * Appends the text of bytes[0 until size] to [out], one U+FFFD per maximal invalid subpart
         * (the Unicode "best practice" Rust follows). Returns how many bytes were used: all of them
         * when [final], else it stops before a character that the next bytes may still complete.
         */
        fun decode(bytes: ByteArray, size: Int, final: Boolean, out: StringBuilder): Int {
            var i = 0
            while (i < size) {
                val lead = bytes[i].toInt() and 0xFF
                if (lead < 0x80) {
                    out.append(lead.toChar())
                    i++
                    continue
                }
                val need = continuationCount(lead)
                if (need == 0) {
                    out.append(REPLACEMENT)
                    i++
                    continue
                }
                var cp = lead and (0x3F shr need)
                var j = i + 1
                while (j <= i + need && j < size && isContinuation(lead, j - i, bytes[j].toInt() and 0xFF)) {
                    cp = (cp shl 6) or (bytes[j].toInt() and 0x3F)
                    j++
                }
                when {
                    j == i + need + 1 -> out.appendCodePoint(cp)

                    j == size && !final -> return i

                    // unfinished: wait for more bytes
                    else -> out.append(REPLACEMENT)
                }
                i = j
            }
            return size
        }

        private const val REPLACEMENT = '\uFFFD'

        /** How many continuation bytes follow [lead]; 0 for a byte that cannot start a character. */
        private fun continuationCount(lead: Int): Int = when (lead) {
            in 0xC2..0xDF -> 1
            in 0xE0..0xEF -> 2
            in 0xF0..0xF4 -> 3
            else -> 0
        }

        /** Whether [byte] may be continuation byte number [index] (1-based) after [lead] (Unicode Table 3-7). */
        private fun isContinuation(lead: Int, index: Int, byte: Int): Boolean {
            if (index == 1) {
                when (lead) {
                    0xE0 -> return byte in 0xA0..0xBF
                    0xED -> return byte in 0x80..0x9F
                    0xF0 -> return byte in 0x90..0xBF
                    0xF4 -> return byte in 0x80..0x8F
                }
            }
            return byte in 0x80..0xBF
        }
    }

    /**
     * Finds added tokens as `AddedVocabulary::find_matches` in `tokenizers`: leftmost-longest matches,
     * the search going on after each match; then each token's options (single word, strip left/right).
     */
    private class AddedTokenMatcher(tokens: List<AddedToken>, private val classes: UnicodeClasses) {
        /** An added token ([id] >= 0) or the text between tokens ([id] -1), as code point offsets. */
        class Piece(val id: Int, val start: Int, val end: Int)

        /** Tokens by first code point, longest first. */
        private val byFirst: Map<Int, List<AddedToken>> = tokens
            .filter { it.codePoints.isNotEmpty() }
            .sortedByDescending { it.codePoints.size }
            .groupBy { it.codePoints[0] }

        /** [text] cut into tokens and the non-empty text between them. */
        fun split(text: IntArray): List<Piece> {
            if (byFirst.isEmpty() || text.isEmpty()) {
                return if (text.isEmpty()) emptyList() else listOf(Piece(-1, 0, text.size))
            }
            val pieces = ArrayList<Piece>()
            var pieceStart = 0
            var position = 0
            while (position < text.size) {
                val token = byFirst[text[position]]?.firstOrNull { startsWith(text, position, it.codePoints) }
                if (token == null) {
                    position++
                    continue
                }
                var start = position
                var end = position + token.codePoints.size
                position = end
                if (token.singleWord && (touchesWord(text, start - 1) || touchesWord(text, end))) continue
                if (token.stripsLeft) start = maxOf(spaceStartBefore(text, start), pieceStart)
                if (token.stripsRight) end = spaceEndAfter(text, end)
                if (pieceStart < start) pieces.add(Piece(-1, pieceStart, start))
                pieces.add(Piece(token.id, start, end))
                pieceStart = end
            }
            if (pieceStart < text.size) pieces.add(Piece(-1, pieceStart, text.size))
            return pieces
        }

        private fun startsWith(text: IntArray, at: Int, pattern: IntArray): Boolean {
            if (at + pattern.size > text.size) return false
            for (k in pattern.indices) if (text[at + k] != pattern[k]) return false
            return true
        }

        private fun touchesWord(text: IntArray, index: Int): Boolean = index in text.indices && classes.has(text[index], CLASS_WORD)

        private fun spaceStartBefore(text: IntArray, index: Int): Int {
            var i = index
            while (i > 0 && classes.has(text[i - 1], CLASS_STRIP)) i--
            return i
        }

        private fun spaceEndAfter(text: IntArray, index: Int): Int {
            var i = index
            while (i < text.size && classes.has(text[i], CLASS_STRIP)) i++
            return i
        }
    }

    /** NFC as `tokenizers` runs it: decompose, order marks by combining class, compose (Unicode 9 tables). */
    private class Nfc(classes: IntArray, decompositions: IntArray, compositions: IntArray) {
        private val combiningClass = HashMap<Int, Int>()
        private val decomposition = HashMap<Int, IntArray>()
        private val composition = HashMap<Long, Int>()
        private val quickLimit: Int // below it nothing decomposes, combines or composes with what precedes

        init {
            var limit = 0x110000
            for (k in 0 until classes.size / 2) {
                combiningClass[classes[2 * k]] = classes[2 * k + 1]
                limit = minOf(limit, classes[2 * k])
            }
            var i = 0
            while (i < decompositions.size) {
                val length = decompositions[i + 1]
                decomposition[decompositions[i]] = decompositions.copyOfRange(i + 2, i + 2 + length)
                limit = minOf(limit, decompositions[i])
                i += 2 + length
            }
            for (k in 0 until compositions.size / 3) {
                composition[pairKey(compositions[3 * k], compositions[3 * k + 1])] = compositions[3 * k + 2]
                limit = minOf(limit, compositions[3 * k + 1])
            }
            quickLimit = minOf(limit, HANGUL_L)
        }

        fun normalize(text: IntArray): IntArray {
            if (text.all { it < quickLimit }) return text
            val decomposed = IntList()
            for (cp in text) decompose(cp, decomposed)
            val chars = decomposed.toArray()
            for (i in 1 until chars.size) { // stable insertion sort of each run of marks by class
                var j = i
                while (j > 0 && classOf(chars[j]) != 0 && classOf(chars[j]) < classOf(chars[j - 1])) {
                    val swap = chars[j]
                    chars[j] = chars[j - 1]
                    chars[j - 1] = swap
                    j--
                }
            }
            return compose(chars)
        }

        private fun classOf(cp: Int): Int = combiningClass[cp] ?: 0

        private fun decompose(cp: Int, out: IntList) {
            val index = cp - HANGUL_S
            if (index in 0 until HANGUL_COUNT) {
                out.add(HANGUL_L + index / 588)
                out.add(HANGUL_V + index % 588 / 28)
                if (index % 28 != 0) out.add(HANGUL_T + index % 28)
                return
            }
            val parts = decomposition[cp]
            if (parts == null) out.add(cp) else parts.forEach { out.add(it) }
        }

        /**
         * The canonical composition algorithm: a character joins the last starter unless a mark of
         * its class or higher stands between them.
         */
        private fun compose(chars: IntArray): IntArray {
            val out = IntList()
            var starter = -1
            var lastClass = 0
            for (cp in chars) {
                val cls = classOf(cp)
                if (starter >= 0 && (lastClass < cls || (lastClass == 0 && out.size - 1 == starter))) {
                    val composite = composePair(out[starter], cp)
                    if (composite >= 0) {
                        out[starter] = composite
                        continue
                    }
                }
                if (cls == 0) starter = out.size
                lastClass = cls
                out.add(cp)
            }
            return out.toArray()
        }

        private fun composePair(first: Int, second: Int): Int {
            if (first in HANGUL_L until HANGUL_L + 19 && second in HANGUL_V until HANGUL_V + 21) {
                return HANGUL_S + ((first - HANGUL_L) * 21 + second - HANGUL_V) * 28
            }
            val index = first - HANGUL_S
            if (index in 0 until HANGUL_COUNT && index % 28 == 0 && second in HANGUL_T + 1 until HANGUL_T + 28) {
                return first + second - HANGUL_T
            }
            return composition[pairKey(first, second)] ?: -1
        }

        private companion object {
            const val HANGUL_S = 0xAC00
            const val HANGUL_L = 0x1100
            const val HANGUL_V = 0x1161
            const val HANGUL_T = 0x11A7
            const val HANGUL_COUNT = 11172

            fun pairKey(first: Int, second: Int): Long = (first.toLong() shl 32) or second.toLong()
        }
    }

    /** Class bits of every code point, from runs (start, bits) sorted by start and covering 0..10FFFF. */
    private class UnicodeClasses(runs: IntArray) {
        private val starts = IntArray(runs.size / 2) { runs[2 * it] }
        private val values = IntArray(runs.size / 2) { runs[2 * it + 1] }
        private val bmp = ByteArray(0x10000) // the Basic Multilingual Plane looked up directly

        init {
            require(starts.isNotEmpty() && starts[0] == 0) { "the Unicode class table must start at 0" }
            for (cp in 0 until 0x10000) bmp[cp] = search(cp).toByte()
        }

        fun bits(cp: Int): Int = if (cp in 0 until 0x10000) bmp[cp].toInt() and 0xFF else search(cp)

        fun has(cp: Int, bit: Int): Boolean = bits(cp) and bit != 0

        private fun search(cp: Int): Int {
            var lo = 0
            var hi = starts.size - 1
            while (lo < hi) { // the last run starting at or before cp
                val mid = (lo + hi + 1) ushr 1
                if (starts[mid] <= cp) lo = mid else hi = mid - 1
            }
            return values[lo]
        }
    }

    /** (left id, right id) -> (rank, merged id), open addressing without boxing. */
    private class PairMap(triples: IntArray) {
        private val bits = 1 + 32 - Integer.numberOfLeadingZeros(maxOf(1, triples.size / 3)) // load < 1/2
        private val capacity = 1 shl bits
        private val keys = LongArray(capacity) { EMPTY }
        private val ranks = IntArray(capacity)
        private val newIds = IntArray(capacity)

        init {
            for (rank in 0 until triples.size / 3) {
                val slot = slotOf(triples[3 * rank], triples[3 * rank + 1])
                keys[slot] = key(triples[3 * rank], triples[3 * rank + 1])
                ranks[slot] = rank
                newIds[slot] = triples[3 * rank + 2]
            }
        }

        /** The merge's rank, or -1 when the pair does not merge. */
        fun rank(left: Int, right: Int): Int {
            val slot = slotOf(left, right)
            return if (keys[slot] == EMPTY) -1 else ranks[slot]
        }

        /** The merged id, or -1 when the pair does not merge. */
        fun newId(left: Int, right: Int): Int {
            val slot = slotOf(left, right)
            return if (keys[slot] == EMPTY) -1 else newIds[slot]
        }

        /** The slot holding the pair, or the empty slot where it would go. */
        private fun slotOf(left: Int, right: Int): Int {
            val key = key(left, right)
            var slot = ((key * -0x61c8864680b583ebL) ushr (64 - bits)).toInt() // Fibonacci hashing
            while (keys[slot] != EMPTY && keys[slot] != key) slot = (slot + 1) and (capacity - 1)
            return slot
        }

        private companion object {
            const val EMPTY = -1L

            fun key(left: Int, right: Int): Long = (left.toLong() shl 32) or (right.toLong() and 0xFFFFFFFFL)
        }
    }

    /** A min-heap of merges ordered by (rank, position), carrying the merged id. */
    private class MergeHeap(capacity: Int) {
        private var keys = LongArray(maxOf(4, capacity))
        private var newIds = IntArray(keys.size)
        var size = 0
            private set

        fun push(rank: Int, position: Int, newId: Int) {
            if (size == keys.size) {
                keys = keys.copyOf(size * 2)
                newIds = newIds.copyOf(size * 2)
            }
            var i = size++
            val key = (rank.toLong() shl 32) or position.toLong()
            while (i > 0) {
                val parent = (i - 1) / 2
                if (keys[parent] <= key) break
                keys[i] = keys[parent]
                newIds[i] = newIds[parent]
                i = parent
            }
            keys[i] = key
            newIds[i] = newId
        }

        fun topPosition(): Int = keys[0].toInt()

        fun topNewId(): Int = newIds[0]

        fun pop() {
            size--
            val key = keys[size]
            val newId = newIds[size]
            var i = 0
            while (true) {
                var child = 2 * i + 1
                if (child >= size) break
                if (child + 1 < size && keys[child + 1] < keys[child]) child++
                if (keys[child] >= key) break
                keys[i] = keys[child]
                newIds[i] = newIds[child]
                i = child
            }
            keys[i] = key
            newIds[i] = newId
        }
    }

    /** Little-endian u32 fields of the asset. */
    private class AssetReader(asset: ByteArray) {
        private val buffer: ByteBuffer = ByteBuffer.wrap(asset).order(ByteOrder.LITTLE_ENDIAN)

        fun requireMagic(magic: String) {
            val found = ByteArray(magic.length)
            require(buffer.remaining() >= found.size) { "not a mobilekit BPE asset (too short)" }
            buffer.get(found)
            require(String(found, Charsets.US_ASCII) == magic) { "not a mobilekit BPE asset of this version (expected $magic)" }
        }

        fun int(): Int {
            require(buffer.remaining() >= 4) { "truncated BPE asset" }
            return buffer.int
        }

        /** A count, checked against what is left so a corrupt asset fails cleanly. */
        fun count(): Int {
            val n = int()
            require(n >= 0 && n <= buffer.remaining()) { "corrupt BPE asset (count $n)" }
            return n
        }

        fun ints(n: Int): IntArray {
            require(n >= 0 && n.toLong() * 4 <= buffer.remaining()) { "truncated BPE asset" }
            return IntArray(n) { buffer.int }
        }

        fun bytes(): ByteArray {
            val out = ByteArray(count())
            buffer.get(out)
            return out
        }

        fun string(): String = String(bytes(), Charsets.UTF_8)

        fun requireEnd() = require(!buffer.hasRemaining()) { "trailing bytes in the BPE asset" }
    }

    /** A growable int array without boxing. */
    private class IntList {
        private var data = IntArray(16)
        var size: Int = 0
            private set

        fun add(value: Int) {
            if (size == data.size) data = data.copyOf(size * 2)
            data[size++] = value
        }

        operator fun get(index: Int): Int = data[index]

        operator fun set(index: Int, value: Int) {
            data[index] = value
        }

        fun toArray(): IntArray = data.copyOf(size)
    }

    /** A growable byte array. */
    private class ByteList {
        var data = ByteArray(32)
            private set
        var size: Int = 0
            private set

        fun add(value: Int) {
            if (size == data.size) data = data.copyOf(size * 2)
            data[size++] = value.toByte()
        }

        fun add(bytes: ByteArray, count: Int) {
            if (size + count > data.size) data = data.copyOf(maxOf(size * 2, size + count))
            System.arraycopy(bytes, 0, data, size, count)
            size += count
        }

        fun removeFirst(count: Int) {
            System.arraycopy(data, count, data, 0, size - count)
            size -= count
        }

        fun clear() {
            size = 0
        }
    }
}
