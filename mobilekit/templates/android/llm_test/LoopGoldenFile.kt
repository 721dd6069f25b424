package mobilekit.generated

// Reads the loop goldens Python recorded from the converted model (format: mobilekit/llm/loop_goldens.py).
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten.

internal class LoopGoldenFile(text: String) {
    class Call(val signature: String, val tokens: List<Int>, val positions: List<Int>, val row: Int, val logits: Map<Int, Float>)

    class Turn(
        val prompt: IntArray,
        val config: GenerationConfig,
        val reuse: Boolean,
        val calls: List<Call>,
        /** A StopReason wire name, or "!empty_prompt" / "!prompt_too_long". */
        val expected: String,
        val chunks: List<String>,
        val tokens: List<Int>,
        val reused: Int,
    )

    class Case(val name: String, val vocabularySize: Int, val contextLength: Int, val prefillLengths: IntArray, val turns: List<Turn>)

    val cases = ArrayList<Case>()

    init {
        val lines = text.split('\n').filter { it.isNotEmpty() }
        require(lines.firstOrNull() == "mobilekit-loop-goldens 1") { "not a mobilekit loop golden file" }
        var i = 1
        while (i < lines.size) {
            val c = lines[i++].split(' ')
            require(c[0] == "case") { "expected a case line, got ${c[0]}" }
            val turns = ArrayList<Turn>()
            repeat(c[5].toInt()) {
                val t = lines[i++].split(' ')
                val calls = lines.subList(i, i + t[11].toInt()).map(::call)
                i += calls.size
                val e = lines[i++].split(' ')
                val config = GenerationConfig(
                    maxNewTokens = t[7].toInt(),
                    temperature = t[2].toDouble(),
                    topK = t[3].toInt(),
                    topP = t[4].toDouble(),
                    repetitionPenalty = t[5].toDouble(),
                    seed = t[6].toULong().toLong(),
                    stopStrings = LlmGoldenFile.texts(t[9]),
                    stopTokenIds = LlmGoldenFile.ints(t[8]).toSet(),
                )
                turns.add(
                    Turn(
                        LlmGoldenFile.ints(t[1]).toIntArray(),
                        config,
                        t[10] == "1",
                        calls,
                        e[1],
                        LlmGoldenFile.texts(e[2]),
                        LlmGoldenFile.ints(e[3]),
                        e[4].toInt(),
                    ),
                )
            }
            cases.add(Case(c[1], c[2].toInt(), c[3].toInt(), LlmGoldenFile.ints(c[4]).toIntArray(), turns))
        }
    }

    private fun call(line: String): Call {
        val f = line.split(' ')
        val logits = HashMap<Int, Float>()
        for (pair in f.drop(6)) {
            val (id, bits) = pair.split(':')
            logits[id.toInt()] = LlmGoldenFile.float(bits)
        }
        return Call(f[1], LlmGoldenFile.ints(f[2]), LlmGoldenFile.ints(f[3]), f[4].toInt(), logits)
    }

    companion object {
        fun load(): LoopGoldenFile {
            val stream = LoopGoldenFile::class.java.getResourceAsStream("/loop_goldens.txt")
                ?: error("loop_goldens.txt is not on the test classpath")
            return LoopGoldenFile(stream.use { String(it.readBytes(), Charsets.UTF_8) })
        }
    }
}

/** Answers each call with the recorded logits (every other id -inf), after checking it is the recorded call. */
internal class ReplayBackend(override val vocabularySize: Int, override val contextLength: Int, override val prefillLengths: IntArray) :
    LanguageModelBackend {
    var calls: List<LoopGoldenFile.Call> = emptyList()
    var next = 0
    val problems = ArrayList<String>()

    override fun run(signature: String, tokens: IntArray, positions: IntArray, row: Int): FloatArray {
        val expected = calls.getOrNull(next++)
        val got = "$signature tokens=${tokens.toList()} positions=${positions.toList()} row=$row"
        if (expected == null) {
            problems.add("unexpected call $got")
            throw IllegalStateException("no recorded call left")
        }
        val want = "${expected.signature} tokens=${expected.tokens} positions=${expected.positions} row=${expected.row}"
        if (got != want) {
            problems.add("call $next: $got, recorded $want")
            throw IllegalStateException("the loop left the recording")
        }
        val logits = FloatArray(vocabularySize) { Float.NEGATIVE_INFINITY }
        for ((id, value) in expected.logits) logits[id] = value
        return logits
    }

    override fun close() {}
}
