package mobilekit.generated

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A static student (`static_model.bin`, written by mobilekit's distill stage): one vector per
 * vocabulary token, averaged over a text. No ML runtime: a lookup, a mean, an optional projection
 * and an optional linear layer, computed here exactly as mobilekit's Python reference computes it
 * (`mobilekit/compress/static_format.py` describes the file).
 *
 * The token table is read in place from [buffer] (memory-mapped from the APK), never copied to
 * the heap; the small projection and head are. Immutable after construction, so one instance
 * may be used from any number of threads.
 */
internal class StaticModel(buffer: ByteBuffer) {
    private val data: ByteBuffer = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN)

    val vocabSize: Int
    val tableDims: Int

    /** Length of [output]'s vector: the number of labels of a classifier, else the embedding width. */
    val outputSize: Int
    private val width: Int
    private val labels: Int
    private val int8Rows: Boolean
    private val normalize: Boolean
    private val excluded: Set<Int>
    private val scalesOffset: Int
    private val rowsOffset: Int
    private val projection: FloatArray?
    private val offset: FloatArray?
    private val headWeights: FloatArray?
    private val headBias: FloatArray?

    init {
        val base = data.position()
        if (data.remaining() < HEADER_BYTES) {
            throw ModelLoadException("the static model is ${data.remaining()} bytes, too short for its header")
        }
        if (MAGIC.indices.any { data.get(base + it) != MAGIC[it] }) {
            throw ModelLoadException("the model asset is not a mobilekit static model (no MKSTATIC header)")
        }
        val version = data.getInt(base + 8)
        if (version != VERSION) throw ModelLoadException("static model format $version; this SDK reads format $VERSION")
        vocabSize = data.getInt(base + 12)
        tableDims = data.getInt(base + 16)
        width = data.getInt(base + 20)
        labels = data.getInt(base + 24)
        val flags = data.getInt(base + 28)
        int8Rows = flags and FLAG_INT8_ROWS != 0
        normalize = flags and FLAG_NORMALIZE != 0
        val excludedCount = data.getInt(base + 32)
        var position = base + HEADER_BYTES
        excluded = HashSet<Int>().apply { repeat(excludedCount) { add(data.getInt(position + 4 * it)) } }
        position += 4 * excludedCount
        if (int8Rows) {
            scalesOffset = position
            rowsOffset = position + 4 * vocabSize
            position = rowsOffset + align4(vocabSize.toLong() * tableDims)
        } else {
            scalesOffset = -1
            rowsOffset = position
            position += 4 * vocabSize * tableDims
        }
        if (flags and FLAG_PROJECTION != 0) {
            projection = readFloats(position, tableDims * width).also { position += 4 * tableDims * width }
            offset = readFloats(position, width).also { position += 4 * width }
        } else {
            projection = null
            offset = null
        }
        if (labels > 0) {
            headWeights = readFloats(position, labels * width).also { position += 4 * labels * width }
            headBias = readFloats(position, labels).also { position += 4 * labels }
        } else {
            headWeights = null
            headBias = null
        }
        if (position != data.limit()) {
            throw ModelLoadException("the static model should be ${position - base} bytes but is ${data.limit() - base}")
        }
        outputSize = if (labels > 0) labels else width
    }

    /**
     * The model's output for the first [length] ids of [ids]: a classifier's logits, or the
     * embedding (L2-normalized when the model says so). [CLS], [SEP] and padding are left out of
     * the mean; a text with no other token averages to zeros.
     */
    fun output(ids: IntArray, length: Int = ids.size): FloatArray {
        val mean = FloatArray(tableDims)
        var count = 0
        for (k in 0 until length) {
            val id = ids[k]
            if (id in excluded) continue
            if (id < 0 || id >= vocabSize) throw InferenceException("token id $id is outside the model's vocabulary of $vocabSize")
            addRow(id, mean)
            count++
        }
        if (count > 0) {
            val n = count.toFloat()
            for (j in mean.indices) mean[j] /= n
        }
        val pooled = project(mean)
        if (headWeights != null && headBias != null) return classify(pooled, headWeights, headBias)
        return if (normalize) l2Normalized(pooled) else pooled
    }

    private fun addRow(id: Int, into: FloatArray) {
        if (int8Rows) {
            val scale = data.getFloat(scalesOffset + 4 * id)
            val start = rowsOffset + id * tableDims
            for (j in 0 until tableDims) into[j] += data.get(start + j).toFloat() * scale
        } else {
            val start = rowsOffset + 4 * id * tableDims
            for (j in 0 until tableDims) into[j] += data.getFloat(start + 4 * j)
        }
    }

    private fun project(mean: FloatArray): FloatArray {
        val matrix = projection ?: return mean
        val out = offset!!.copyOf()
        for (i in 0 until tableDims) {
            val v = mean[i]
            if (v == 0f) continue
            val row = i * width
            for (j in 0 until width) out[j] += v * matrix[row + j]
        }
        return out
    }

    private fun classify(pooled: FloatArray, weights: FloatArray, bias: FloatArray): FloatArray {
        val logits = FloatArray(labels)
        for (label in 0 until labels) {
            var sum = 0f
            val row = label * width
            for (j in 0 until width) sum += weights[row + j] * pooled[j]
            logits[label] = sum + bias[label]
        }
        return logits
    }

    private fun readFloats(at: Int, count: Int): FloatArray {
        if (at + 4L * count > data.limit()) throw ModelLoadException("the static model is truncated")
        return FloatArray(count) { data.getFloat(at + 4 * it) }
    }

    private companion object {
        val MAGIC: ByteArray = "MKSTATIC".toByteArray(Charsets.US_ASCII)
        const val VERSION = 1
        const val HEADER_BYTES = 36
        const val FLAG_INT8_ROWS = 1
        const val FLAG_PROJECTION = 2
        const val FLAG_NORMALIZE = 4

        fun align4(bytes: Long): Int = (((bytes + 3) / 4) * 4).toInt()

        fun l2Normalized(v: FloatArray): FloatArray {
            var sum = 0.0
            for (x in v) sum += x.toDouble() * x
            val norm = maxOf(Math.sqrt(sum), 1e-12).toFloat()
            return FloatArray(v.size) { v[it] / norm }
        }
    }
}
