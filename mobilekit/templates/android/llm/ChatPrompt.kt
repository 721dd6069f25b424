package mobilekit.generated

// mobilekit LLM runtime: the model's chat template, rendered without a Jinja engine. A real Kotlin
// file, copied into each generated SDK with only its first line (`package mobilekit.generated`)
// rewritten to the SDK's package.
//
// Convention: the model-specific values live in a small generated file next to this one,
//
//     internal object GeneratedChatShape {
//         val SHAPE: ChatShape = ChatShape(
//             kind = ChatShape.Kind.CHATML, bos = "", defaultSystem = "...", qwen3Thinking = false,
//         )
//     }
//
// written by mobilekit.llm.chat_template.kotlin_shape_object from the shape it recognised in the
// model's template; this file never changes per model. The rules mirror
// mobilekit/llm/chat_template.py, and goldens rendered by transformers' apply_chat_template prove
// the output equal byte for byte.

enum class ChatRole(val wireName: String) {
    SYSTEM("system"),
    USER("user"),
    ASSISTANT("assistant"),
}

data class ChatMessage(val role: ChatRole, val content: String)

/** The shape of a model's chat template (see mobilekit/llm/chat_template.py). */
class ChatShape(
    val kind: Kind,
    /** Text in front of the first turn (Gemma's bos token). */
    val bos: String,
    /** ChatML: the system prompt the template adds when the first message is not a system one. */
    val defaultSystem: String?,
    /** ChatML: Qwen3's rules for `<think>` blocks in assistant messages. */
    val qwen3Thinking: Boolean,
) {
    enum class Kind { CHATML, GEMMA }

    /** The text that closes a turn: generation should stop there. */
    val endOfTurn: String get() = if (kind == Kind.CHATML) CHATML_END else GEMMA_END

    internal companion object {
        const val CHATML_START = "<|im_start|>"
        const val CHATML_END = "<|im_end|>"
        const val GEMMA_START = "<start_of_turn>"
        const val GEMMA_END = "<end_of_turn>"
    }
}

/** A conversation the template cannot render (empty, or roles out of the order it requires). */
class ChatTemplateException(message: String) : IllegalArgumentException(message)

object ChatPrompt {
    /**
     * The prompt text for [messages], equal to transformers' apply_chat_template(tokenize=False).
     * [enableThinking] matters to Qwen3 only: false adds an empty think block to the generation prompt.
     */
    fun render(
        shape: ChatShape,
        messages: List<ChatMessage>,
        addGenerationPrompt: Boolean = true,
        enableThinking: Boolean? = null,
    ): String {
        if (messages.isEmpty()) throw ChatTemplateException("a conversation needs at least one message")
        val out = StringBuilder(shape.bos)
        when (shape.kind) {
            ChatShape.Kind.CHATML -> chatml(shape, messages, addGenerationPrompt, enableThinking, out)
            ChatShape.Kind.GEMMA -> gemma(messages, addGenerationPrompt, out)
        }
        return out.toString()
    }

    private fun chatmlTurn(role: String, content: String, out: StringBuilder) {
        out.append(ChatShape.CHATML_START).append(role).append('\n')
        out.append(content).append(ChatShape.CHATML_END).append('\n')
    }

    private fun chatml(shape: ChatShape, messages: List<ChatMessage>, generation: Boolean, thinking: Boolean?, out: StringBuilder) {
        val default = shape.defaultSystem
        if (messages[0].role != ChatRole.SYSTEM && default != null) chatmlTurn("system", default, out)
        val lastQuery = qwen3LastQuery(messages)
        for ((index, message) in messages.withIndex()) {
            if (message.role == ChatRole.ASSISTANT && shape.qwen3Thinking) {
                val body = qwen3Assistant(message.content, index > lastQuery, index == messages.size - 1)
                chatmlTurn("assistant", body, out)
            } else {
                chatmlTurn(message.role.wireName, message.content, out)
            }
        }
        if (generation) {
            out.append(ChatShape.CHATML_START).append("assistant\n")
            if (shape.qwen3Thinking && thinking == false) out.append("<think>\n\n</think>\n\n")
        }
    }

    /** The last user message that is not a tool response: Qwen3 keeps reasoning after it. */
    private fun qwen3LastQuery(messages: List<ChatMessage>): Int {
        for (index in messages.indices.reversed()) {
            val m = messages[index]
            val toolResponse = m.content.startsWith("<tool_response>") && m.content.endsWith("</tool_response>")
            if (m.role == ChatRole.USER && !toolResponse) return index
        }
        return messages.size - 1
    }

    // Python's str.split(sep)[-1] is substringAfterLast, split(sep)[0] is substringBefore.
    private fun qwen3Assistant(whole: String, afterQuery: Boolean, last: Boolean): String {
        var content = whole
        var reasoning = ""
        if (whole.contains("</think>")) {
            content = whole.substringAfterLast("</think>").trimStart('\n')
            reasoning = whole.substringBefore("</think>").trimEnd('\n').substringAfterLast("<think>").trimStart('\n')
        }
        if (afterQuery && (last || reasoning.isNotEmpty())) {
            return "<think>\n" + reasoning.trim('\n') + "\n</think>\n\n" + content.trimStart('\n')
        }
        return content
    }

    private fun gemma(messages: List<ChatMessage>, generation: Boolean, out: StringBuilder) {
        val hasSystem = messages[0].role == ChatRole.SYSTEM
        val prefix = if (hasSystem) messages[0].content + "\n\n" else ""
        val turns = if (hasSystem) messages.subList(1, messages.size) else messages
        for ((index, message) in turns.withIndex()) {
            if ((message.role == ChatRole.USER) != (index % 2 == 0)) {
                throw ChatTemplateException("Conversation roles must alternate user/assistant/user/assistant/...")
            }
            val role = if (message.role == ChatRole.ASSISTANT) "model" else message.role.wireName
            out.append(ChatShape.GEMMA_START).append(role).append('\n')
            if (index == 0) out.append(prefix)
            out.append(pythonStrip(message.content)).append(ChatShape.GEMMA_END).append('\n')
        }
        if (generation) out.append(ChatShape.GEMMA_START).append("model\n")
    }

    /** Jinja's trim filter is Python's str.strip(): exactly these code points (all in the BMP). */
    private fun isPythonWhitespace(c: Char): Boolean = when (c.code) {
        in 0x09..0x0D, in 0x1C..0x20, 0x85, 0xA0, 0x1680, in 0x2000..0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
        -> true

        else -> false
    }

    internal fun pythonStrip(text: String): String {
        var start = 0
        var end = text.length
        while (start < end && isPythonWhitespace(text[start])) start++
        while (end > start && isPythonWhitespace(text[end - 1])) end--
        return text.substring(start, end)
    }
}
