package mobilekit.generated

// Reads the sampling / stop / chat-template goldens Python wrote (format: mobilekit/llm/sdk_goldens.py).
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten to the
// SDK's package.

internal class LlmGoldenFile(text: String) {
    class Rng(val seed: Long, val values: List<Long>)
    class Exp(val x: Double, val y: Double)
    class Sample(
        val name: String,
        val logits: String,
        val config: SamplerConfig,
        val prompt: List<Int>,
        /** null: the first step must fail. */
        val tokens: List<Int>?,
    )
    class Chat(
        val name: String,
        val shape: String,
        val generation: Boolean,
        val thinking: Boolean?,
        val messages: List<ChatMessage>,
        /** null: rendering must fail. */
        val expected: String?,
    )
    class Stop(
        val name: String,
        val promptTokens: Int,
        val contextLength: Int,
        val criteria: StopCriteria,
        val events: List<Pair<Int, String>>,
        val reason: String,
        val chunks: List<String>,
        val accepted: Int,
    )

    val rng = ArrayList<Rng>()
    val units = ArrayList<Rng>()
    val exps = ArrayList<Exp>()
    val logits = HashMap<String, List<FloatArray>>()
    val samples = ArrayList<Sample>()
    val chats = ArrayList<Chat>()
    val stops = ArrayList<Stop>()

    init {
        val lines = text.split('\n').filter { it.isNotEmpty() }
        require(lines.firstOrNull() == "mobilekit-llm-goldens 1") { "not a mobilekit LLM golden file" }
        var i = 1
        while (i < lines.size) {
            val f = lines[i].split(' ')
            i++
            when (f[0]) {
                "rng" -> rng.add(Rng(f[1].toULong().toLong(), f.drop(3).map { it.toULong().toLong() }))

                "unit" -> units.add(Rng(f[1].toULong().toLong(), f.drop(3).map { it.toULong(16).toLong() }))

                "exp" -> exps.add(Exp(double(f[1]), double(f[2])))

                "logits" -> {
                    val steps = f[3].toInt()
                    logits[f[1]] = lines.subList(i, i + steps).map { row -> row.split(' ').map(::float).toFloatArray() }
                    i += steps
                }

                "sample" -> samples.add(sample(f))

                "chat" -> {
                    val count = f[5].toInt()
                    val messages = lines.subList(i, i + count).map { line ->
                        val m = line.split(' ')
                        ChatMessage(ChatRole.values().first { it.wireName == m[1] }, text(m[2]))
                    }
                    i += count
                    val thinking = if (f[4] == "-") null else f[4] == "1"
                    chats.add(Chat(f[1], f[2], f[3] == "1", thinking, messages, if (f[6] == "!") null else text(f[6])))
                }

                "stop" -> {
                    val count = f[7].toInt()
                    val events = lines.subList(i, i + count).map { line ->
                        val e = line.split(' ')
                        e[1].toInt() to text(e[2])
                    }
                    val e = lines[i + count].split(' ')
                    i += count + 1
                    val criteria = StopCriteria(ints(f[5]), texts(f[6]), f[4].toInt())
                    stops.add(Stop(f[1], f[2].toInt(), f[3].toInt(), criteria, events, e[1], texts(e[2]), e[3].toInt()))
                }

                else -> error("unknown golden line: ${f[0]}")
            }
        }
    }

    private fun sample(f: List<String>): Sample {
        val config = SamplerConfig(
            temperature = f[3].toDouble(),
            topK = f[4].toInt(),
            topP = f[5].toDouble(),
            repetitionPenalty = f[6].toDouble(),
            seed = f[7].toULong().toLong(),
        )
        return Sample(f[1], f[2], config, ints(f[8]), if (f[9] == "!") null else ints(f[9]))
    }

    companion object {
        fun load(): LlmGoldenFile {
            val stream = LlmGoldenFile::class.java.getResourceAsStream("/sampling_chat_goldens.txt")
                ?: error("sampling_chat_goldens.txt is not on the test classpath")
            return LlmGoldenFile(stream.use { String(it.readBytes(), Charsets.UTF_8) })
        }

        fun ints(field: String): List<Int> = if (field == "-") emptyList() else field.split(',').map { it.toInt() }

        fun text(field: String): String {
            if (field == "_") return ""
            val bytes = ByteArray(field.length / 2) { field.substring(2 * it, 2 * it + 2).toInt(16).toByte() }
            return String(bytes, Charsets.UTF_8)
        }

        fun texts(field: String): List<String> = if (field == "-") emptyList() else field.split(',').map(::text)

        fun double(hex: String): Double = Double.fromBits(hex.toULong(16).toLong())

        fun float(hex: String): Float = Float.fromBits(hex.toUInt(16).toInt())

        /** Prints the count line the Python test collects, and fails with the first mismatches. */
        fun report(kind: String, total: Int, mismatches: List<String>) {
            println("MOBILEKIT-GOLDENS kotlin $kind ${total - mismatches.size} $total")
            if (mismatches.isNotEmpty()) {
                val first = mismatches.take(10).joinToString("\n")
                throw AssertionError("${mismatches.size} of $total $kind goldens differ:\n$first")
            }
        }
    }
}
