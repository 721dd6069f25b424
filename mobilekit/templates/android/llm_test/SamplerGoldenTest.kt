package mobilekit.generated

// Sampler.kt against Python's picks (mobilekit/llm/sampling.py): random stream, exp, tokens, stops.
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten to the
// SDK's package.

import org.junit.Assert.assertEquals
import org.junit.Test

class SamplerGoldenTest {
    private val goldens = LlmGoldenFile.load()

    @Test
    fun randomStreamMatchesPython() {
        val bad = ArrayList<String>()
        for (g in goldens.rng) {
            val rng = SplitMix64(g.seed)
            val got = g.values.map { rng.nextLong() }
            if (got != g.values) bad.add("seed ${g.seed.toULong()}: $got")
        }
        for (g in goldens.units) {
            val rng = SplitMix64(g.seed)
            val got = g.values.map { rng.nextDouble().toRawBits() }
            if (got != g.values) bad.add("seed ${g.seed.toULong()} doubles: $got")
        }
        LlmGoldenFile.report("rng", goldens.rng.size + goldens.units.size, bad)
    }

    @Test
    fun expMatchesPythonBitForBit() {
        val bad = goldens.exps.filter { SamplingMath.detExp(it.x).toRawBits() != it.y.toRawBits() }
            .map { "exp(${it.x}) = ${SamplingMath.detExp(it.x)}, Python ${it.y}" }
        LlmGoldenFile.report("exp", goldens.exps.size, bad)
    }

    @Test
    fun samplerPicksPythonsTokens() {
        val bad = ArrayList<String>()
        for (case in goldens.samples) {
            val got = replay(case, goldens.logits.getValue(case.logits))
            if (got != case.tokens) bad.add("${case.name}: Kotlin $got, Python ${case.tokens}")
        }
        LlmGoldenFile.report("sample", goldens.samples.size, bad)
    }

    @Test
    fun stopTrackerMatchesPython() {
        val bad = ArrayList<String>()
        for (case in goldens.stops) {
            val tracker = StopTracker(case.criteria, case.promptTokens, case.contextLength)
            val chunks = ArrayList<String>()
            var reason = "-"
            for ((token, delta) in case.events) {
                val step = tracker.accept(token, delta)
                chunks.add(step.text)
                if (step.stop != null) {
                    reason = step.stop.wireName
                    break
                }
            }
            if (reason != case.reason || chunks != case.chunks || tracker.generated != case.accepted) {
                val python = "${case.reason} ${case.chunks} ${case.accepted}"
                bad.add("${case.name}: Kotlin $reason $chunks ${tracker.generated}, Python $python")
            }
        }
        LlmGoldenFile.report("stop", goldens.stops.size, bad)
    }

    @Test
    fun sameSeedSameTokens() {
        val case = goldens.samples.first { it.tokens != null && !it.config.isGreedy }
        val steps = goldens.logits.getValue(case.logits)
        assertEquals(replay(case, steps), replay(case, steps))
    }

    /** Tokens picked step by step; null when the first step has no usable logits. */
    private fun replay(case: LlmGoldenFile.Sample, steps: List<FloatArray>): List<Int>? {
        val sampler = Sampler(case.config)
        val picked = ArrayList<Int>()
        for (logits in steps) {
            val previous = (case.prompt + picked).toIntArray()
            try {
                picked.add(sampler.sample(logits, previous))
            } catch (e: NoUsableLogitsException) {
                if (picked.isNotEmpty()) throw e
                return null
            }
        }
        return picked
    }
}
