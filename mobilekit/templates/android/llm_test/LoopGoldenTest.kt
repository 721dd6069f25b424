package mobilekit.generated

// The generation loop (Generation.kt) against the loop Python ran on the converted model
// (mobilekit/llm/generation.py): the same model calls, tokens, text chunks and stop reasons.
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten.

import org.junit.Assert.assertTrue
import org.junit.Test

class LoopGoldenTest {
    private val goldens = LoopGoldenFile.load()

    @Test
    fun loopMakesPythonsCallsAndPicksPythonsTokens() {
        val bad = ArrayList<String>()
        var turns = 0
        for (case in goldens.cases) {
            val backend = ReplayBackend(case.vocabularySize, case.contextLength, case.prefillLengths)
            val engine = GenerationEngine(LlmTestAssets.tokenizer, backend)
            for ((index, turn) in case.turns.withIndex()) {
                turns++
                backend.calls = turn.calls
                backend.next = 0
                val label = "${case.name}[$index]"
                val outcome = try {
                    replay(engine, turn)
                } catch (e: IllegalArgumentException) {
                    when (e) {
                        is EmptyPromptException -> "!empty_prompt"
                        is PromptTooLongException -> "!prompt_too_long"
                        else -> "error $e"
                    }
                } catch (e: IllegalStateException) {
                    "error $e ${backend.problems}"
                }
                val expected = if (turn.expected.startsWith(
                        "!",
                    )
                ) {
                    turn.expected
                } else {
                    describe(turn.expected, turn.chunks, turn.tokens, turn.reused)
                }
                if (outcome != expected) bad.add("$label:\n  got      $outcome\n  expected $expected")
                if (backend.next != turn.calls.size) bad.add("$label: ${backend.next} of ${turn.calls.size} recorded calls made")
            }
        }
        LlmGoldenFile.report("loop", turns, bad)
        assertTrue(turns > 0)
    }

    private fun replay(engine: GenerationEngine, turn: LoopGoldenFile.Turn): String = engine.exclusive {
        val run = engine.start(turn.prompt, turn.config, emptySet(), turn.reuse)
        val chunks = ArrayList<String>()
        while (true) {
            val step = run.step()
            chunks.add(step.text)
            if (step.stop != null) break
        }
        val result = run.result()
        describe(result.stopReason!!.wireName, chunks, result.tokenIds.toList(), result.reusedTokens)
    }

    private fun describe(reason: String, chunks: List<String>, tokens: List<Int>, reused: Int) =
        "$reason chunks=${chunks.map(::quote)} tokens=$tokens reused=$reused"

    /** Printable ASCII as is, everything else as \u{...}, so a failure shows exactly which text differs. */
    private fun quote(text: String): String {
        val out = StringBuilder("\"")
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            if (cp in 0x20..0x7E) out.appendCodePoint(cp) else out.append("\\u{").append(Integer.toHexString(cp)).append('}')
            i += Character.charCount(cp)
        }
        return out.append('"').toString()
    }
}
