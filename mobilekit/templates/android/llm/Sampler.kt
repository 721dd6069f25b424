package mobilekit.generated

// mobilekit LLM runtime: token sampling and stopping. A real Kotlin file, copied into each generated
// SDK with only its first line (`package mobilekit.generated`) rewritten to the SDK's package. The
// rules are specified in mobilekit/llm/sampling.py; goldens recorded there prove this file picks
// the same tokens. Compiles against android.jar API 23 (Kotlin stdlib only).

import kotlin.math.floor

/** temperature 0 = greedy; topK 0 = off; topP 1 = off; repetitionPenalty 1 = off. */
class SamplerConfig(
    val temperature: Double = 0.0,
    val topK: Int = 0,
    val topP: Double = 1.0,
    val repetitionPenalty: Double = 1.0,
    /** Any 64-bit value; the same seed gives the same tokens on every platform. */
    val seed: Long = 0L,
) {
    init {
        require(temperature.isFinite() && temperature >= 0.0) {
            "temperature must be a finite number >= 0, got $temperature"
        }
        require(topK >= 0) { "topK must be >= 0 (0 = off), got $topK" }
        require(topP > 0.0 && topP <= 1.0) { "topP must be in (0, 1] (1 = off), got $topP" }
        require(repetitionPenalty.isFinite() && repetitionPenalty > 0.0) {
            "repetitionPenalty must be a finite number > 0 (1 = off), got $repetitionPenalty"
        }
    }

    val isGreedy: Boolean get() = temperature == 0.0
}

/** SplitMix64: the random stream Python, Kotlin and Swift share (Long arithmetic wraps mod 2^64). */
class SplitMix64(seed: Long) {
    private var state: Long = seed

    fun nextLong(): Long {
        state += GOLDEN_GAMMA
        var z = state
        z = (z xor (z ushr 30)) * MIX1
        z = (z xor (z ushr 27)) * MIX2
        return z xor (z ushr 31)
    }

    /** 53 random bits scaled into [0, 1): exact, so every platform gets the same double. */
    fun nextDouble(): Double = (nextLong() ushr 11).toDouble() * TWO_POW_MINUS_53

    private companion object {
        const val GOLDEN_GAMMA: Long = -0x61c8864680b583ebL // 0x9E3779B97F4A7C15
        const val MIX1: Long = -0x40a7b892e31b1a47L // 0xBF58476D1CE4E5B9
        const val MIX2: Long = -0x6b2fb644ecceee15L // 0x94D049BB133111EB
        const val TWO_POW_MINUS_53: Double = 1.1102230246251565E-16
    }
}

/** No logit can be chosen from (all NaN or -infinity): the model's output is unusable. */
class NoUsableLogitsException : IllegalStateException("the model returned no usable logits (all NaN or -inf)")

/**
 * Picks tokens for one generation: the config plus its random stream. Not thread-safe: each
 * generation owns one Sampler.
 */
class Sampler(val config: SamplerConfig) {
    private val rng = SplitMix64(config.seed)

    /** The next token from [logits] (one row, vocab-sized); [previousTokens] = prompt + generated. */
    fun sample(logits: FloatArray, previousTokens: IntArray): Int {
        val s = penalized(logits, previousTokens, config.repetitionPenalty)
        var best = 0
        for (i in 1 until s.size) if (s[i] > s[best]) best = i
        if (s.isEmpty() || s[best] == Double.NEGATIVE_INFINITY) throw NoUsableLogitsException()
        if (config.isGreedy) return best
        val u = rng.nextDouble() // one draw per call, whatever is kept: streams stay aligned
        return draw(scaled(s, config.temperature), u)
    }

    private fun draw(z: DoubleArray, u: Double): Int {
        var m = Double.NEGATIVE_INFINITY
        for (v in z) if (v > m) m = v
        val order = candidates(z, m)
        val kept = if (config.topK in 1 until order.size) order.subList(0, config.topK) else order
        val sums = DoubleArray(kept.size)
        var total = 0.0
        for (j in kept.indices) {
            total += SamplingMath.detExp(z[kept[j]] - m)
            sums[j] = total
        }
        var last = kept.size - 1
        if (config.topP < 1.0) {
            val bound = config.topP * total
            last = 0
            while (sums[last] < bound) last++
        }
        val target = u * sums[last]
        for (j in 0..last) if (target < sums[j]) return kept[j]
        return kept[last]
    }

    private companion object {
        const val CANDIDATE_WINDOW = 30.0

        /** Step 1: float32 -> double, previous tokens penalised (from their own logit: idempotent), NaN -> -inf. */
        fun penalized(logits: FloatArray, previous: IntArray, penalty: Double): DoubleArray {
            val s = DoubleArray(logits.size) { logits[it].toDouble() }
            if (penalty != 1.0) {
                for (t in previous) {
                    if (t < 0 || t >= s.size) continue
                    val x = logits[t].toDouble()
                    s[t] = if (x < 0.0) x * penalty else x / penalty
                }
            }
            for (i in s.indices) if (s[i].isNaN()) s[i] = Double.NEGATIVE_INFINITY
            return s
        }

        fun scaled(s: DoubleArray, temperature: Double): DoubleArray = DoubleArray(s.size) {
            val v = s[it] / temperature
            if (v == Double.POSITIVE_INFINITY) Double.MAX_VALUE else v
        }

        /** Ids within the window of the top score, by score descending then id ascending (IEEE compare). */
        fun candidates(z: DoubleArray, m: Double): List<Int> {
            val ids = ArrayList<Int>()
            for (i in z.indices) if (z[i] - m >= -CANDIDATE_WINDOW) ids.add(i)
            return ids.sortedWith { a, b ->
                when {
                    z[a] > z[b] -> -1
                    z[a] < z[b] -> 1
                    else -> a.compareTo(b)
                }
            }
        }
    }
}

/** e^x from + - * / and floor only, so every platform gets the same bits (libm's exp does not). */
internal object SamplingMath {
    private const val INV_LN2 = 1.4426950408889634
    private const val LN2_HI = 0.6931471803691238 // 21 trailing zero bits: k * LN2_HI is exact
    private const val LN2_LO = 1.9082149292705877E-10

    // 1/n! for n = 13 down to 2 (Horner order)
    private val COEFFS = doubleArrayOf(
        1.6059043836821613E-10, 2.08767569878681E-9, 2.505210838544172E-8, 2.755731922398589E-7,
        2.7557319223985893E-6, 2.48015873015873E-5, 1.984126984126984E-4, 0.001388888888888889,
        0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5,
    )

    /** For -708 <= x <= 0 (0.0 below). */
    fun detExp(x: Double): Double {
        if (x < -708.0) return 0.0
        val k = floor(x * INV_LN2 + 0.5)
        val r = (x - k * LN2_HI) - k * LN2_LO
        var p = COEFFS[0]
        for (i in 1 until COEFFS.size) p = p * r + COEFFS[i]
        p = p * r + 1.0
        p = p * r + 1.0
        return p * Double.fromBits((k.toLong() + 1023L) shl 52) // 2^k, exact scaling
    }
}

enum class StopReason(val wireName: String) {
    STOP_TOKEN("stop_token"),
    STOP_STRING("stop_string"),
    MAX_NEW_TOKENS("max_new_tokens"),

    /** The last token has no KV-cache slot left; the SDK never truncates or shifts the context. */
    CONTEXT_FULL("context_full"),
}

class StopCriteria(stopTokenIds: Collection<Int> = emptyList(), stopStrings: List<String> = emptyList(), val maxNewTokens: Int = 256) {
    val stopTokenIds: Set<Int> = stopTokenIds.toSet()
    val stopStrings: List<String> = stopStrings.toList()

    init {
        require(maxNewTokens >= 1) { "maxNewTokens must be >= 1, got $maxNewTokens" }
        for (text in this.stopStrings) {
            require(text.isNotEmpty() && isWellFormed(text)) { "stop strings must be non-empty valid Unicode" }
        }
    }

    private fun isWellFormed(text: String): Boolean {
        var i = 0
        while (i < text.length) {
            val c = text[i]
            if (c.isHighSurrogate()) {
                if (i + 1 >= text.length || !text[i + 1].isLowSurrogate()) return false
                i++
            } else if (c.isLowSurrogate()) {
                return false
            }
            i++
        }
        return true
    }
}

/** What a stream may show after a token, and the reason generation ended (null while it goes on). */
class StopStep(val text: String, val stop: StopReason?)

/**
 * Decides after each token what text is safe to emit and whether generation is over. Text that
 * could be the start of a stop string is held back, so a stream never shows part of one. One per
 * generation; not thread-safe.
 */
class StopTracker(val criteria: StopCriteria, val promptTokens: Int, val contextLength: Int) {
    private val text = StringBuilder()
    private var emitted = 0 // text[0, emitted) has been emitted (UTF-16 units)
    var generated = 0
        private set
    var stopped: StopReason? = null
        private set

    init {
        require(promptTokens <= contextLength) {
            "the prompt has $promptTokens tokens, more than the context of $contextLength: " +
                "shorten it (the SDK never truncates)"
        }
    }

    /** [token] was generated and decodes to [delta] (complete characters from the stream decoder). */
    fun accept(token: Int, delta: String): StopStep {
        check(stopped == null) { "generation already stopped ($stopped)" }
        generated++
        if (token in criteria.stopTokenIds) return stop(StopReason.STOP_TOKEN, flush())
        text.append(delta)
        val match = firstMatch()
        if (match >= 0) {
            val out = text.substring(emitted, match)
            emitted = text.length
            return stop(StopReason.STOP_STRING, out)
        }
        if (generated >= criteria.maxNewTokens) return stop(StopReason.MAX_NEW_TOKENS, flush())
        if (promptTokens + generated > contextLength) return stop(StopReason.CONTEXT_FULL, flush())
        val safe = text.length - heldBack()
        val out = text.substring(emitted, safe)
        emitted = safe
        return StopStep(out, null)
    }

    /** Held-back text, for a loop that ends for its own reason (cancellation). */
    fun flush(): String {
        val out = text.substring(emitted)
        emitted = text.length
        return out
    }

    private fun stop(reason: StopReason, out: String): StopStep {
        stopped = reason
        return StopStep(out, reason)
    }

    // A match never starts before `emitted`: text that could start one is never emitted.
    private fun firstMatch(): Int {
        var best = -1
        for (s in criteria.stopStrings) {
            val at = text.indexOf(s, emitted)
            if (at >= 0 && (best < 0 || at < best)) best = at
        }
        return best
    }

    /** Length of the longest unemitted suffix that a stop string starts with. */
    private fun heldBack(): Int {
        var longest = 0
        for (s in criteria.stopStrings) longest = maxOf(longest, s.length - 1)
        longest = minOf(longest, text.length - emitted)
        for (k in longest downTo 1) {
            val tail = text.substring(text.length - k)
            if (criteria.stopStrings.any { it.startsWith(tail) }) return k
        }
        return 0
    }
}
