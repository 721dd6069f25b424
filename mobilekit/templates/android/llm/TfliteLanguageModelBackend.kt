package mobilekit.generated

// mobilekit LLM runtime: a converted model's prefill and decode signatures run by the LiteRT
// Interpreter, with the KV cache held in Java direct buffers. A real Kotlin file, copied into each
// generated SDK with only its first line rewritten. Compiled against LiteRT 1.4.1's Java API.

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Signature I/O (mobilekit/llm/kv_decoder.py): inputs `tokens` int32 [1, n], `input_pos` int32 [n]
 * and one float32 [1, kvHeads, contextLength, headDim] tensor per cache (`kv_cache_k_<layer>`,
 * `kv_cache_v_<layer>`); outputs `logits` float32 [1, n, vocab] and the updated caches under the
 * same names. The caches are double-buffered: each call reads one set and writes the other. Not
 * thread-safe by itself: [GenerationEngine] serialises calls.
 */
class TfliteLanguageModelBackend(
    private val interpreter: Interpreter,
    override val vocabularySize: Int,
    override val contextLength: Int,
    override val prefillLengths: IntArray,
    private val cacheNames: List<String>,
) : LanguageModelBackend {
    private var cacheIn: Map<String, ByteBuffer>
    private var cacheOut: Map<String, ByteBuffer>
    private val logits = HashMap<String, ByteBuffer>()

    init {
        val keys = interpreter.signatureKeys.toSet()
        val wanted = prefillLengths.map { "prefill_$it" } + "decode"
        val missing = wanted.filter { it !in keys }
        require(missing.isEmpty()) { "the model lacks the signatures $missing (it has ${keys.sorted()})" }
        val cacheBytes = cacheNames.map { name ->
            val tensor = interpreter.getInputTensorFromSignature(name, "decode")
            require(tensor.dataType() == DataType.FLOAT32) { "cache $name is ${tensor.dataType()}, expected FLOAT32" }
            tensor.numBytes()
        }
        cacheIn = cacheNames.indices.associate { cacheNames[it] to direct(cacheBytes[it]) }
        cacheOut = cacheNames.indices.associate { cacheNames[it] to direct(cacheBytes[it]) }
    }

    override fun run(signature: String, tokens: IntArray, positions: IntArray, row: Int): FloatArray {
        val inputs = HashMap<String, Any>(cacheNames.size + 2)
        inputs["tokens"] = ints(tokens)
        inputs["input_pos"] = ints(positions)
        val outputs = HashMap<String, Any>(cacheNames.size + 1)
        val logitsBuffer = logits.getOrPut(signature) { direct(tokens.size * vocabularySize * FLOAT_BYTES) }
        logitsBuffer.clear()
        outputs["logits"] = logitsBuffer
        for (name in cacheNames) {
            inputs[name] = cacheIn.getValue(name).also { it.rewind() }
            outputs[name] = cacheOut.getValue(name).also { it.clear() }
        }
        interpreter.runSignature(inputs, outputs, signature)
        val written = cacheIn
        cacheIn = cacheOut
        cacheOut = written
        val values = logitsBuffer.also { it.rewind() }.asFloatBuffer()
        values.position(row * vocabularySize)
        return FloatArray(vocabularySize).also { values.get(it) }
    }

    override fun close() = interpreter.close()

    companion object {
        private const val FLOAT_BYTES = 4

        private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

        private fun ints(values: IntArray): ByteBuffer {
            val buffer = direct(values.size * 4)
            buffer.asIntBuffer().put(values)
            return buffer
        }
    }
}
