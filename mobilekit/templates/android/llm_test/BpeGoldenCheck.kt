package mobilekit.generated

// Checks ByteLevelBpeTokenizer against goldens from the Python tokenizer (format and corpus:
// mobilekit/sdk/bpe_goldens.py). A real Kotlin source file: only its first line (`package
// mobilekit.generated`) is rewritten to the SDK's package. It needs no JUnit: a generated test calls
// [BpeGoldenCheck.check]; tests/sdk_llm runs [BpeGoldenCheck.main] on the host JVM:
//
//   java -cp <classes>:kotlin-stdlib.jar mobilekit.generated.BpeGoldenCheck corpus.txt NAME ASSET GOLDENS [NAME ASSET GOLDENS]...
//
// which prints one `RESULT name=...` line per tokenizer (mismatch counts, timings) and the first
// mismatches of each kind, and exits 1 when anything mismatches.

import java.io.File

object BpeGoldenCheck {
    /** Mismatch counts of one tokenizer, and the first mismatches of each kind, described. */
    class Result(val name: String, val cases: Int, val decodeCases: Int) {
        var encode = 0
        var encodeSpecial = 0
        var decode = 0
        var stream = 0
        var loadMs = 0L
        var encodeMs = 0L
        var totalMs = 0L
        val messages = ArrayList<String>()
        private val shown = HashMap<String, Int>()

        val mismatches: Int get() = encode + encodeSpecial + decode + stream

        val summary: String
            get() = "RESULT name=$name cases=$cases decodeCases=$decodeCases encode=$encode " +
                "encodeSpecial=$encodeSpecial decode=$decode stream=$stream " +
                "loadMs=$loadMs encodeMs=$encodeMs totalMs=$totalMs"

        /** Keeps the first three mismatches of a kind, so a failure says what went wrong. */
        internal fun show(kind: String, detail: () -> String) {
            val n = shown[kind] ?: 0
            if (n < 3) messages.add("MISMATCH $kind: ${detail()}")
            shown[kind] = n + 1
        }
    }

    @JvmStatic
    fun main(args: Array<String>) {
        require(args.size >= 4 && (args.size - 1) % 3 == 0) { "usage: corpus.txt (NAME ASSET GOLDENS)..." }
        val corpus = readCorpus(File(args[0]).readText())
        var mismatches = 0
        for (k in 1 until args.size step 3) {
            val result = check(args[k], File(args[k + 1]).readBytes(), File(args[k + 2]).readText(), corpus)
            result.messages.forEach { println(it) }
            println(result.summary)
            mismatches += result.mismatches
        }
        if (mismatches > 0) System.exit(1)
    }

    /** The texts of a corpus file. */
    fun readCorpus(text: String): List<String> {
        val lines = text.split("\n").filter { it.isNotEmpty() }
        val header = lines[0].split(" ")
        require(header[0] == "mkbpe-corpus" && header[1] == "1") { "not a corpus file: ${lines[0]}" }
        val texts = lines.drop(1).map { unhex(it) }
        require(texts.size == header[2].toInt()) { "corpus: expected ${header[2]} texts, found ${texts.size}" }
        return texts
    }

    /** The tokenizer loaded from [asset] against a goldens file: encode, decode, streaming decode. */
    fun check(name: String, asset: ByteArray, goldens: String, corpus: List<String>): Result {
        var started = System.nanoTime()
        val tokenizer = ByteLevelBpeTokenizer.load(asset)
        val loadMs = (System.nanoTime() - started) / 1_000_000
        val lines = goldens.split("\n").filter { it.isNotEmpty() }
        val header = lines[0].split(" ")
        require(header[0] == "mkbpe-goldens" && header[3].toInt() == corpus.size) { "goldens do not match the corpus: ${lines[0]}" }
        val result = Result(name, corpus.size, header[4].toInt())
        result.loadMs = loadMs
        var encodeNanos = 0L
        var index = 0
        started = System.nanoTime()
        for (line in lines.drop(1)) {
            val fields = line.split(" ")
            if (fields[0] == "E") {
                encodeNanos += checkEncode(tokenizer, corpus[index++], fields, result)
            } else {
                checkDecode(tokenizer, parseIds(fields[1]), unhex(fields[2]), unhex(fields[3]), result)
            }
        }
        result.encodeMs = encodeNanos / 1_000_000
        result.totalMs = (System.nanoTime() - started) / 1_000_000
        return result
    }

    /** One `E` line: encode with and without special tokens, then decode the ids; returns encode's time. */
    private fun checkEncode(tokenizer: ByteLevelBpeTokenizer, text: String, fields: List<String>, result: Result): Long {
        val ids = parseIds(fields[1])
        val t0 = System.nanoTime()
        val got = tokenizer.encode(text)
        val nanos = System.nanoTime() - t0
        if (!got.contentEquals(ids)) {
            result.encode++
            result.show("encode") { "${hex(text)} expected ${ids.joinToString(",")} got ${got.joinToString(",")}" }
        }
        val full = if (fields[2] == "=") ids else parseIds(fields[2])
        if (!tokenizer.encode(text, addSpecialTokens = true).contentEquals(full)) {
            result.encodeSpecial++
            result.show("encodeSpecial") { hex(text) }
        }
        checkDecode(tokenizer, ids, same(fields[3], text), same(fields[4], text), result)
        return nanos
    }

    /** decode and streaming decode, skipping special tokens and keeping them. */
    private fun checkDecode(tokenizer: ByteLevelBpeTokenizer, ids: IntArray, skipped: String, kept: String, result: Result) {
        for ((skip, expected) in listOf(true to skipped, false to kept)) {
            val got = tokenizer.decode(ids, skipSpecialTokens = skip)
            if (got != expected) {
                result.decode++
                result.show("decode") { "${ids.joinToString(",")} skip=$skip expected ${hex(expected)} got ${hex(got)}" }
            }
            val streamed = streamDecode(tokenizer, ids, skip)
            if (streamed != expected) {
                result.stream++
                result.show("stream") {
                    "${ids.joinToString(",")} skip=$skip expected ${hex(expected)} got ${streamed ?: "a half character"}"
                }
            }
        }
    }

    /** The pieces a StreamingDecoder returns, joined; null if a piece splits a surrogate pair. */
    private fun streamDecode(tokenizer: ByteLevelBpeTokenizer, ids: IntArray, skip: Boolean): String? {
        val decoder = tokenizer.streamingDecoder(skipSpecialTokens = skip)
        val out = StringBuilder()
        for (id in ids) {
            val piece = decoder.push(id)
            if (piece.isNotEmpty() && (Character.isHighSurrogate(piece.last()) || Character.isLowSurrogate(piece.first()))) return null
            out.append(piece)
        }
        return out.append(decoder.flush()).toString()
    }

    private fun same(field: String, text: String): String = if (field == "=") text else unhex(field)

    private fun parseIds(field: String): IntArray = if (field == "-") IntArray(0) else field.split(",").map { it.toInt() }.toIntArray()

    private fun unhex(field: String): String {
        if (field == "-") return ""
        val bytes = ByteArray(field.length / 2) { field.substring(2 * it, 2 * it + 2).toInt(16).toByte() }
        return String(bytes, Charsets.UTF_8)
    }

    private fun hex(text: String): String = text.toByteArray(Charsets.UTF_8).joinToString("") { "%02x".format(it) }
}
