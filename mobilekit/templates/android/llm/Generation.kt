package mobilekit.generated

// mobilekit LLM runtime: the generation loop over a model's prefill and decode signatures. A real
// Kotlin file, copied into each generated SDK with only its first line (`package mobilekit.generated`)
// rewritten. The loop is specified in mobilekit/llm/generation.py; loop goldens recorded there from
// the converted model prove this file makes the same calls and picks the same tokens.

import java.io.Closeable
import java.util.concurrent.Semaphore

/** What the loop needs from a model runtime: TFLite on a phone, a recording in the tests. */
interface LanguageModelBackend : Closeable {
    val vocabularySize: Int

    /** KV-cache slots: prompt plus generated tokens can never exceed it. */
    val contextLength: Int

    /** The prefill signatures' lengths (`prefill_<n>`), ascending. */
    val prefillLengths: IntArray

    /**
     * Runs [signature] (`prefill_<n>` or `decode`) on [tokens] at [positions] (padding: token 0 at
     * position -1), writing their keys and values into the KV cache, and returns the logits of row
     * [row] (the last real token). Cache slots after a position need no clearing: the model's mask
     * lets a token see only slots at or before its own position.
     */
    fun run(signature: String, tokens: IntArray, positions: IntArray, row: Int): FloatArray
}

/** How to generate. Invalid values throw IllegalArgumentException when the config is built. */
class GenerationConfig(
    val maxNewTokens: Int = 256,
    /** 0 = greedy (always the most likely token). */
    val temperature: Double = 0.0,
    val topK: Int = 0,
    val topP: Double = 1.0,
    val repetitionPenalty: Double = 1.0,
    /** Same seed, same prompt, same model: same tokens, on every platform. */
    val seed: Long = 0L,
    /** Text that ends generation; it is never shown, even when it spans several tokens. */
    val stopStrings: List<String> = emptyList(),
    /** Token ids that end generation; null: the model's own (end of text, end of turn). */
    val stopTokenIds: Set<Int>? = null,
) {
    val sampler: SamplerConfig = SamplerConfig(temperature, topK, topP, repetitionPenalty, seed)

    init {
        StopCriteria(emptyList(), stopStrings, maxNewTokens) // validates
    }

    internal fun criteria(defaultStopTokenIds: Set<Int>): StopCriteria =
        StopCriteria(stopTokenIds ?: defaultStopTokenIds, stopStrings, maxNewTokens)
}

/** What one generation produced. [stopReason] is null when it was cancelled. */
class GenerationResult(
    val text: String,
    val tokenIds: IntArray,
    val promptTokens: Int,
    /** Prompt tokens whose KV-cache entries were kept from the previous generation (not recomputed). */
    val reusedTokens: Int,
    val stopReason: StopReason?,
)

/** The prompt encodes to no token: there is nothing to predict from. */
class EmptyPromptException : IllegalArgumentException("the prompt is empty: give at least one character of text")

/** The prompt does not fit the KV cache; the SDK never truncates it. */
class PromptTooLongException(val promptTokens: Int, val contextLength: Int) :
    IllegalArgumentException(
        "the prompt has $promptTokens tokens but the model's context holds $contextLength: shorten it " +
            "(or start a new chat session)",
    )

/**
 * The loop, and the ids its backend's KV cache holds. Generations run one at a time: [exclusive]
 * serialises callers (a second one waits for the first to finish), so one instance can be shared
 * by any number of threads.
 */
class GenerationEngine(val tokenizer: ByteLevelBpeTokenizer, private val backend: LanguageModelBackend) : Closeable {
    private val permit = Semaphore(1, true)

    @Volatile
    private var closed = false

    // Ids whose keys and values sit in cache slots 0 until size; valid only between generations.
    private var cached = IntArray(0)

    val contextLength: Int get() = backend.contextLength

    /** Runs [block] with the engine to itself; waits while another generation runs. */
    fun <T> exclusive(block: () -> T): T {
        permit.acquire()
        try {
            check(!closed) { "the model is closed" }
            return block()
        } finally {
            permit.release()
        }
    }

    /** [exclusive] for callers that acquired the permit themselves (interruptibly, in a coroutine). */
    internal fun acquire() = permit.acquire()

    internal fun release() = permit.release()

    /**
     * Starts a generation (the caller holds the engine, see [exclusive]). With [reuseCache], cache
     * entries of the previous generation that match the prompt's first ids are kept.
     */
    fun start(prompt: IntArray, config: GenerationConfig, defaultStopTokenIds: Set<Int>, reuseCache: Boolean): Run {
        check(!closed) { "the model is closed" }
        if (prompt.isEmpty()) throw EmptyPromptException()
        if (prompt.size > contextLength) throw PromptTooLongException(prompt.size, contextLength)
        var keep = if (reuseCache) commonPrefix(cached, prompt) else 0
        keep = minOf(keep, prompt.size - 1) // the last prompt token is always fed: its logits start the text
        return Run(prompt, keep, config, config.criteria(defaultStopTokenIds))
    }

    /** One generation: each [step] samples one token (running the model once) and says what to show. */
    inner class Run internal constructor(
        private val prompt: IntArray,
        val reusedTokens: Int,
        config: GenerationConfig,
        criteria: StopCriteria,
    ) {
        private val sampler = Sampler(config.sampler)
        private val tracker = StopTracker(criteria, prompt.size, contextLength)
        private val decoder = tokenizer.streamingDecoder(skipSpecialTokens = true)
        private val previous = IntArray(prompt.size + criteria.maxNewTokens).also { prompt.copyInto(it) }
        private val text = StringBuilder()
        private var count = prompt.size
        private var started = false

        val promptTokens: Int get() = prompt.size
        val stopReason: StopReason? get() = tracker.stopped

        init {
            cached = IntArray(0) // until this run ends cleanly, the cache holds nothing reusable
        }

        fun step(): StopStep {
            check(tracker.stopped == null) { "generation already stopped (${tracker.stopped})" }
            val logits = try {
                if (!started) prefill() else decodeLast()
            } catch (e: Throwable) {
                cached = IntArray(0)
                throw e
            }
            started = true
            val token = sampler.sample(logits, previous.copyOf(count))
            previous[count++] = token
            val step = tracker.accept(token, decoder.push(token))
            text.append(step.text)
            cached = previous.copyOf(count - 1) // every token but the newest has been through the model
            return step
        }

        /** What was generated so far, as a result (stopReason null if it has not stopped). */
        fun result(): GenerationResult =
            GenerationResult(text.toString(), previous.copyOfRange(prompt.size, count), prompt.size, reusedTokens, tracker.stopped)

        private fun prefill(): FloatArray {
            var position = reusedTokens
            var logits = FloatArray(0)
            for (size in prefillPlan(prompt.size - reusedTokens, backend.prefillLengths)) {
                val length = minOf(size, prompt.size - position)
                val tokens = IntArray(size)
                val positions = IntArray(size) { PAD_POSITION }
                for (i in 0 until length) {
                    tokens[i] = prompt[position + i]
                    positions[i] = position + i
                }
                logits = backend.run("prefill_$size", tokens, positions, length - 1)
                position += length
            }
            return logits
        }

        private fun decodeLast(): FloatArray {
            val position = count - 1
            return backend.run("decode", intArrayOf(previous[position]), intArrayOf(position), 0)
        }
    }

    /** Releases the model's native memory once the running generation (if any) has finished its step. */
    override fun close() {
        if (closed) return
        closed = true
        permit.acquire()
        try {
            backend.close()
        } finally {
            permit.release()
        }
    }

    companion object {
        const val PAD_POSITION = -1

        /** Chunk sizes for [count] prompt tokens: the largest signature while more remains, then the smallest that fits. */
        @JvmStatic
        fun prefillPlan(count: Int, lengths: IntArray): IntArray {
            val largest = lengths.max()
            val plan = ArrayList<Int>()
            var left = count
            while (left > 0) {
                if (left >= largest) {
                    plan.add(largest)
                    left -= largest
                } else {
                    plan.add(lengths.filter { it >= left }.min())
                    left = 0
                }
            }
            return plan.toIntArray()
        }

        private fun commonPrefix(a: IntArray, b: IntArray): Int {
            var n = 0
            while (n < a.size && n < b.size && a[n] == b[n]) n++
            return n
        }
    }
}
