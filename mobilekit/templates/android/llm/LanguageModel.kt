package mobilekit.generated

// mobilekit LLM runtime: the public API of a generated language-model SDK (streaming, blocking, chat
// sessions). A real Kotlin file, copied into each generated SDK with only its first line rewritten;
// the generated model class extends [LanguageModel] and only adds how to load its assets.

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.runInterruptible
import java.io.Closeable

/**
 * A causal language model with its tokenizer and chat template. Thread-safe: generations on one
 * instance run one at a time, in the order they start (a second caller waits, or with a Flow,
 * suspends). [close] releases the native memory; later calls throw IllegalStateException.
 */
open class LanguageModel(
    val tokenizer: ByteLevelBpeTokenizer,
    backend: LanguageModelBackend,
    /** The model's chat template, recognised when the SDK was generated; null for a model without one. */
    val chatShape: ChatShape?,
    /** Ids that end generation unless a config names its own: end of text, end of turn. */
    val defaultStopTokenIds: Set<Int>,
    private val dispatcher: CoroutineDispatcher = Dispatchers.Default,
) : Closeable {
    private val engine = GenerationEngine(tokenizer, backend)

    val contextLength: Int get() = engine.contextLength

    /**
     * Streams the continuation of [prompt] (raw text, no chat template) as it is generated. Each
     * element is whole characters. Cancelling the collector stops generation after the token being
     * computed. Throws [EmptyPromptException] or [PromptTooLongException] when collected.
     */
    fun generate(prompt: String, config: GenerationConfig = GenerationConfig()): Flow<String> =
        stream(config, reuseCache = true) { tokenizer.encode(prompt, addSpecialTokens = true) }

    /** [generate], on the calling thread: returns when generation stops; [onText] sees each piece. */
    @JvmOverloads
    fun generateBlocking(prompt: String, config: GenerationConfig = GenerationConfig(), onText: (String) -> Unit = {}): GenerationResult =
        blocking(tokenizer.encode(prompt, addSpecialTokens = true), config, onText)

    /** The reply to [messages], rendered with the model's chat template exactly as transformers does. */
    fun chat(messages: List<ChatMessage>, config: GenerationConfig = GenerationConfig()): Flow<String> =
        stream(config, reuseCache = true) { encodeChat(messages) }

    /** [chat], on the calling thread. */
    @JvmOverloads
    fun chatBlocking(
        messages: List<ChatMessage>,
        config: GenerationConfig = GenerationConfig(),
        onText: (String) -> Unit = {},
    ): GenerationResult = blocking(encodeChat(messages), config, onText)

    /** A conversation that keeps its KV cache between turns: each turn only computes its new tokens. */
    @JvmOverloads
    fun newSession(systemPrompt: String? = null): ChatSession = ChatSession(this, systemPrompt)

    /** The exact prompt text [chat] feeds the model for [messages]; IllegalStateException without a chat template. */
    fun renderChat(messages: List<ChatMessage>): String {
        val shape = checkNotNull(chatShape) { "this model has no chat template: use generate() with your own prompt format" }
        return ChatPrompt.render(shape, messages)
    }

    internal fun encodeChat(messages: List<ChatMessage>): IntArray = tokenizer.encode(renderChat(messages))

    internal fun stream(
        config: GenerationConfig,
        reuseCache: Boolean,
        onDone: (GenerationResult) -> Unit = {},
        prompt: () -> IntArray,
    ): Flow<String> = flow {
        val ids = prompt()
        runInterruptible { engine.acquire() } // waiting for another generation can be cancelled
        var run: GenerationEngine.Run? = null
        try {
            run = engine.start(ids, config, defaultStopTokenIds, reuseCache)
            while (true) {
                currentCoroutineContext().ensureActive()
                val step = run.step()
                if (step.text.isNotEmpty()) emit(step.text)
                if (step.stop != null) break
            }
        } finally {
            engine.release()
            run?.let { onDone(it.result()) }
        }
    }.flowOn(dispatcher)

    internal fun blocking(prompt: IntArray, config: GenerationConfig, onText: (String) -> Unit): GenerationResult = engine.exclusive {
        val run = engine.start(prompt, config, defaultStopTokenIds, reuseCache = true)
        while (true) {
            val step = run.step()
            if (step.text.isNotEmpty()) onText(step.text)
            if (step.stop != null) break
        }
        run.result()
    }

    override fun close() = engine.close()
}

/**
 * A chat: the messages so far, and the model's KV cache kept between turns. Each [send] adds the
 * user's message and, once generation ends (stopped, finished or cancelled), the reply as far as
 * it was generated. Use one session from one place at a time; the model itself is thread-safe.
 */
class ChatSession internal constructor(private val model: LanguageModel, systemPrompt: String?) {
    private val history = ArrayList<ChatMessage>()

    // Bumped by reset(): a turn that ends after a reset does not bring the old conversation back.
    private var epoch = 0

    init {
        if (systemPrompt != null) history.add(ChatMessage(ChatRole.SYSTEM, systemPrompt))
    }

    val messages: List<ChatMessage> get() = synchronized(history) { history.toList() }

    /** Streams the reply to [text]. */
    fun send(text: String, config: GenerationConfig = GenerationConfig()): Flow<String> {
        val (turn, started) = begin(text)
        return model.stream(config, reuseCache = true, onDone = { record(turn, started, it) }) { model.encodeChat(turn) }
    }

    /** [send], on the calling thread. */
    @JvmOverloads
    fun sendBlocking(text: String, config: GenerationConfig = GenerationConfig(), onText: (String) -> Unit = {}): GenerationResult {
        val (turn, started) = begin(text)
        val result = model.blocking(model.encodeChat(turn), config, onText)
        record(turn, started, result)
        return result
    }

    /** Forgets the conversation (the system prompt stays); a reply still being generated is dropped. */
    fun reset() = synchronized(history) {
        val system = history.firstOrNull()?.takeIf { it.role == ChatRole.SYSTEM }
        history.clear()
        if (system != null) history.add(system)
        epoch++
    }

    private fun begin(text: String): Pair<List<ChatMessage>, Int> = synchronized(history) {
        (history + ChatMessage(ChatRole.USER, text)) to epoch
    }

    private fun record(turn: List<ChatMessage>, started: Int, result: GenerationResult) = synchronized(history) {
        if (epoch != started) return@synchronized
        history.clear()
        history.addAll(turn)
        history.add(ChatMessage(ChatRole.ASSISTANT, result.text))
    }
}
