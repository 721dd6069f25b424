package mobilekit.generated

// ChatPrompt.kt against transformers' apply_chat_template, byte for byte. The shapes come from the
// generated GoldenChatShapes.BY_NAME (in an SDK: the model's own GeneratedChatShape.SHAPE).
// A real Kotlin test file: only its first line (`package mobilekit.generated`) is rewritten to the
// SDK's package.

import org.junit.Test

class ChatPromptGoldenTest {
    private val goldens = LlmGoldenFile.load()

    @Test
    fun promptsEqualApplyChatTemplate() {
        val bad = ArrayList<String>()
        for (case in goldens.chats) {
            val shape = GoldenChatShapes.BY_NAME.getValue(case.shape)
            val got: String? = try {
                ChatPrompt.render(shape, case.messages, case.generation, case.thinking)
            } catch (e: ChatTemplateException) {
                null
            }
            // Compare UTF-8 bytes: equal strings, not merely equal-looking ones.
            if (got?.toByteArray(Charsets.UTF_8)?.toList() != case.expected?.toByteArray(Charsets.UTF_8)?.toList()) {
                bad.add("${case.name}: Kotlin ${quote(got)}, transformers ${quote(case.expected)}")
            }
        }
        LlmGoldenFile.report("chat", goldens.chats.size, bad)
    }

    private fun quote(text: String?): String = text?.replace("\n", "\\n") ?: "(error)"
}
