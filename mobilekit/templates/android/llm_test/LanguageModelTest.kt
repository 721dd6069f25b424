package mobilekit.generated

// Hostile input and concurrency for the public API (LanguageModel.kt) over a scripted backend: a
// "model" that always predicts the next token of a fixed text, so every outcome is known.
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten.

import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

class LanguageModelTest {
    private val tokenizer = LlmTestAssets.tokenizer
    private val script = tokenizer.encode(SCRIPT)
    private val shape = ChatShape(ChatShape.Kind.CHATML, "", null, false)

    /** Predicts script[(position + 1) % size] whatever the input; counts calls, checks exclusivity. */
    private inner class ScriptedBackend(override val contextLength: Int = 96, private val delayMs: Long = 0) : LanguageModelBackend {
        override val vocabularySize = tokenizer.vocabularySize
        override val prefillLengths = intArrayOf(4, 16)
        val calls = AtomicInteger()
        val inside = AtomicInteger()
        var overlapped = false
        var closed = false
        var started: CountDownLatch? = null

        override fun run(signature: String, tokens: IntArray, positions: IntArray, row: Int): FloatArray {
            if (inside.incrementAndGet() > 1) overlapped = true
            try {
                calls.incrementAndGet()
                started?.countDown()
                if (delayMs > 0) Thread.sleep(delayMs)
                val logits = FloatArray(vocabularySize)
                logits[script[(positions[row] + 1) % script.size]] = 10f
                return logits
            } finally {
                inside.decrementAndGet()
            }
        }

        override fun close() {
            closed = true
        }
    }

    private fun model(backend: ScriptedBackend) = LanguageModel(tokenizer, backend, shape, setOf(0), kotlinx.coroutines.Dispatchers.IO)

    @Test
    fun emptyPromptIsAnErrorBeforeAnyModelCall() {
        val backend = ScriptedBackend()
        val model = model(backend)
        try {
            model.generateBlocking("")
            fail("an empty prompt must throw")
        } catch (e: EmptyPromptException) {
            assertEquals(0, backend.calls.get())
        }
        try {
            runBlocking { model.generate("").toList() }
            fail("an empty prompt must throw from the flow too")
        } catch (e: EmptyPromptException) {
            assertEquals(0, backend.calls.get())
        }
    }

    @Test
    fun promptLongerThanTheContextIsAnErrorNotATruncation() {
        val backend = ScriptedBackend(contextLength = 16)
        val text = SCRIPT.repeat(4)
        try {
            model(backend).generateBlocking(text)
            fail("a prompt longer than the context must throw")
        } catch (e: PromptTooLongException) {
            assertEquals(tokenizer.encode(text).size, e.promptTokens)
            assertEquals(16, e.contextLength)
            assertEquals(0, backend.calls.get())
        }
    }

    @Test
    fun fullContextStopsWithContextFull() {
        val backend = ScriptedBackend(contextLength = 24)
        val prompt = tokenizer.decode(script.copyOf(20))
        val result = model(backend).generateBlocking(prompt, GenerationConfig(maxNewTokens = 100))
        assertEquals(StopReason.CONTEXT_FULL, result.stopReason)
        assertEquals(24 - result.promptTokens + 1, result.tokenIds.size)
    }

    @Test
    fun stopStringSpanningTokensIsNeverShown() {
        val backend = ScriptedBackend()
        val model = model(backend)
        val plain = model.generateBlocking("Once", GenerationConfig(maxNewTokens = 40))
        // The end of one generated token and the start of the next.
        val pieces = plain.tokenIds.map { tokenizer.decode(intArrayOf(it)) }
        val at = (3 until pieces.size - 1).first { pieces[it].trim().length >= 2 && pieces[it + 1].trim().length >= 2 }
        val stop = pieces[at].takeLast(2) + pieces[at + 1].take(2)
        val shown = ArrayList<String>()
        val result = model.generateBlocking("Once", GenerationConfig(maxNewTokens = 40, stopStrings = listOf(stop))) { shown.add(it) }
        assertEquals(StopReason.STOP_STRING, result.stopReason)
        assertFalse(result.text.contains(stop))
        assertEquals(plain.text.substring(0, plain.text.indexOf(stop)), result.text)
        assertEquals(result.text, shown.joinToString(""))
        val streamed = runBlocking { model.generate("Once", GenerationConfig(maxNewTokens = 40, stopStrings = listOf(stop))).toList() }
        assertEquals(result.text, streamed.joinToString(""))
    }

    @Test
    fun cancellingTheCollectorStopsWithinOneToken() {
        val backend = ScriptedBackend(delayMs = 50)
        val model = model(backend)
        val expected = model(ScriptedBackend()).generateBlocking("Once", GenerationConfig(maxNewTokens = 12))
        var callsAtCancel = 0
        runBlocking {
            val pieces = ArrayList<String>()
            val job = launch {
                model.generate("Once", GenerationConfig(maxNewTokens = 200)).collect { piece ->
                    pieces.add(piece)
                    if (pieces.size == 3) {
                        callsAtCancel = backend.calls.get()
                        throw kotlinx.coroutines.CancellationException("stop button")
                    }
                }
            }
            job.join()
            assertTrue(job.isCancelled)
        }
        Thread.sleep(300) // a runaway loop would go on calling the model meanwhile
        assertTrue("${backend.calls.get()} calls, $callsAtCancel at cancel", backend.calls.get() <= callsAtCancel + 1)
        // The model is usable again and unaffected.
        val again = model.generateBlocking("Once", GenerationConfig(maxNewTokens = 12))
        assertEquals(expected.text, again.text)
        assertEquals(expected.tokenIds.toList(), again.tokenIds.toList())
    }

    @Test
    fun twoThreadsOnOneInstanceRunOneAfterTheOther() {
        val backend = ScriptedBackend(delayMs = 2)
        val model = model(backend)
        val prompts = listOf("Once", "The end")
        val solo = prompts.map { model(ScriptedBackend()).generateBlocking(it, GenerationConfig(maxNewTokens = 16)) }
        val results = arrayOfNulls<GenerationResult>(2)
        val errors = ArrayList<Throwable>()
        val threads = prompts.indices.map { i ->
            Thread {
                try {
                    results[i] = model.generateBlocking(prompts[i], GenerationConfig(maxNewTokens = 16))
                } catch (e: Throwable) {
                    synchronized(errors) { errors.add(e) }
                }
            }
        }
        threads.forEach { it.start() }
        threads.forEach { it.join(TimeUnit.SECONDS.toMillis(30)) }
        assertTrue(errors.toString(), errors.isEmpty())
        assertFalse("two generations ran in the model at once", backend.overlapped)
        for (i in prompts.indices) assertEquals(solo[i].tokenIds.toList(), results[i]!!.tokenIds.toList())
    }

    @Test
    fun sessionKeepsItsCacheBetweenTurns() {
        val backend = ScriptedBackend(contextLength = 256)
        val session = model(backend).newSession("Be brief.")
        val first = session.sendBlocking("Hi!", GenerationConfig(maxNewTokens = 8))
        val second = session.sendBlocking("And then?", GenerationConfig(maxNewTokens = 8))
        assertEquals(0, first.reusedTokens)
        assertTrue("reused ${second.reusedTokens}", second.reusedTokens > first.promptTokens / 2)
        assertEquals(
            listOf(ChatRole.SYSTEM, ChatRole.USER, ChatRole.ASSISTANT, ChatRole.USER, ChatRole.ASSISTANT),
            session.messages.map {
                it.role
            },
        )
        assertEquals(second.text, session.messages.last().content)
        session.reset()
        assertEquals(listOf(ChatRole.SYSTEM), session.messages.map { it.role })
    }

    @Test
    fun resetDuringAReplyDropsThatReply() {
        val backend = ScriptedBackend(contextLength = 256, delayMs = 20)
        val session = model(backend).newSession("Be brief.")
        backend.started = CountDownLatch(3)
        val turn = Thread { session.sendBlocking("Hi!", GenerationConfig(maxNewTokens = 10)) }
        turn.start()
        backend.started!!.await(10, TimeUnit.SECONDS)
        session.reset()
        turn.join(TimeUnit.SECONDS.toMillis(30))
        assertEquals(listOf(ChatRole.SYSTEM), session.messages.map { it.role })
    }

    @Test
    fun closeReleasesTheModelAndLaterCallsFail() {
        val backend = ScriptedBackend()
        val model = model(backend)
        model.generateBlocking("Once", GenerationConfig(maxNewTokens = 2))
        model.close()
        model.close() // idempotent
        assertTrue(backend.closed)
        try {
            model.generateBlocking("Once")
            fail("a closed model must refuse to generate")
        } catch (e: IllegalStateException) {
            assertTrue(e.message!!.contains("closed"))
        }
    }

    private companion object {
        const val SCRIPT = "Once upon a time, a small model ran on a phone and answered every question quickly. "
    }
}
