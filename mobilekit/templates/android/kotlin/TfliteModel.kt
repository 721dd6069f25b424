package mobilekit.generated

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One LiteRT interpreter and its reusable input/output buffers. Not thread-safe by itself: the
 * wrapper class serialises calls. Inputs are matched by NAME (the model's signature, or tensor
 * names such as `serving_default_input_ids:0`), never by position: converters may reorder them.
 */
internal class TfliteModel private constructor(
    private val interpreter: Interpreter,
    private val signatureKey: String?,
    private val inputs: List<Input>,
    private val output: Output,
    private val ownsInterpreter: Boolean,
) : Closeable {

    private class Input(val name: String, val tensorIndex: Int, val type: DataType, val buffer: ByteBuffer)

    private class Output(
        val name: String,
        val tensorIndex: Int,
        val type: DataType,
        val scale: Float,
        val zeroPoint: Int,
        val size: Int,
        val buffer: ByteBuffer,
    )

    /** Number of values the model returns per text. */
    val outputSize: Int get() = output.size

    fun run(encoding: Encoding): FloatArray {
        for (input in inputs) {
            val values = when (input.name) {
                "input_ids" -> encoding.inputIds
                "attention_mask" -> encoding.attentionMask
                else -> encoding.tokenTypeIds
            }
            val buffer = input.buffer
            buffer.clear()
            if (input.type == DataType.INT64) {
                for (v in values) buffer.putLong(v.toLong())
            } else {
                for (v in values) buffer.putInt(v)
            }
            buffer.rewind()
        }
        output.buffer.clear()
        try {
            if (signatureKey != null) {
                val feeds = HashMap<String, Any>()
                for (input in inputs) feeds[input.name] = input.buffer
                val outputs = HashMap<String, Any>()
                outputs[output.name] = output.buffer
                interpreter.runSignature(feeds, outputs, signatureKey)
            } else {
                val feeds = arrayOfNulls<Any>(inputs.size)
                for (input in inputs) feeds[input.tensorIndex] = input.buffer
                val outputs = HashMap<Int, Any>()
                outputs[output.tensorIndex] = output.buffer
                interpreter.runForMultipleInputsOutputs(feeds, outputs)
            }
        } catch (e: RuntimeException) {
            throw InferenceException("the model failed to run: ${e.message}", e)
        }
        val buffer = output.buffer
        buffer.rewind()
        return FloatArray(output.size) {
            when (output.type) {
                DataType.FLOAT32 -> buffer.getFloat()
                DataType.INT8 -> (buffer.get().toInt() - output.zeroPoint) * output.scale
                else -> ((buffer.get().toInt() and 0xFF) - output.zeroPoint) * output.scale
            }
        }
    }

    /** Closes the interpreter when this model owns it (the other buckets of a file share it). */
    override fun close() {
        if (ownsInterpreter) interpreter.close()
    }

    companion object {
        private const val SERVING_DEFAULT = "serving_default"
        private val TENSOR_SUFFIX = Regex(":\\d+$")

        /**
         * Opens [model] and checks every tensor against what this SDK feeds: inputs [inputNames] of
         * shape [1, sequenceLength] (int32 or int64), output [outputName] with [expectedOutputSize]
         * values (float32, or int8/uint8 with quantization parameters); -1 accepts any size.
         */
        fun open(
            model: ByteBuffer,
            numThreads: Int,
            useXnnpack: Boolean,
            inputNames: List<String>,
            outputName: String,
            sequenceLength: Int,
            expectedOutputSize: Int,
        ): TfliteModel = openBuckets(
            model,
            numThreads,
            useXnnpack,
            inputNames,
            outputName,
            mapOf(sequenceLength to SERVING_DEFAULT),
            expectedOutputSize,
        ).getValue(sequenceLength)

        /**
         * Opens [model] once and describes one signature per length bucket: [signatures] maps each
         * bucket length to its signature key (the largest is `serving_default`, which owns the
         * interpreter). Every signature is checked as [open] checks the single one.
         */
        fun openBuckets(
            model: ByteBuffer,
            numThreads: Int,
            useXnnpack: Boolean,
            inputNames: List<String>,
            outputName: String,
            signatures: Map<Int, String>,
            expectedOutputSize: Int,
        ): Map<Int, TfliteModel> {
            val options = Interpreter.Options().setNumThreads(numThreads).setUseXNNPACK(useXnnpack)
            val interpreter = try {
                Interpreter(model, options)
            } catch (e: IllegalArgumentException) {
                throw ModelLoadException("the model asset is not a valid TFLite model: ${e.message}", e)
            }
            val owner = signatures.keys.maxOrNull() ?: throw ModelShapeException("no length bucket to open")
            try {
                return signatures.mapValues { (length, key) ->
                    describe(interpreter, key, inputNames, outputName, length, expectedOutputSize, length == owner)
                }
            } catch (e: Throwable) {
                interpreter.close()
                throw e
            }
        }

        /** The signature [wanted]; a file without `serving_default` falls back to its first signature or none. */
        private fun signatureKey(interpreter: Interpreter, wanted: String): String? {
            val keys = interpreter.signatureKeys
            return when {
                keys.contains(wanted) -> wanted
                wanted != SERVING_DEFAULT -> throw ModelShapeException("the model has no signature '$wanted' (has ${keys.toList()})")
                keys.isNotEmpty() -> keys[0]
                else -> null
            }
        }

        private fun describe(
            interpreter: Interpreter,
            wanted: String,
            inputNames: List<String>,
            outputName: String,
            sequenceLength: Int,
            expectedOutputSize: Int,
            ownsInterpreter: Boolean,
        ): TfliteModel {
            val key = signatureKey(interpreter, wanted)
            val inputTensors = HashMap<String, Pair<Int, Tensor>>()
            val outputTensors = HashMap<String, Pair<Int, Tensor>>()
            if (key != null) {
                for (name in interpreter.getSignatureInputs(key)) {
                    inputTensors[name] =
                        -1 to interpreter.getInputTensorFromSignature(name, key)
                }
                for (name in interpreter.getSignatureOutputs(key)) {
                    outputTensors[name] =
                        -1 to interpreter.getOutputTensorFromSignature(name, key)
                }
            } else {
                for (i in 0 until interpreter.inputTensorCount) {
                    val tensor = interpreter.getInputTensor(i)
                    inputTensors[cleanName(tensor.name())] = i to tensor
                }
                for (i in 0 until interpreter.outputTensorCount) {
                    val tensor = interpreter.getOutputTensor(i)
                    outputTensors[cleanName(tensor.name())] = i to tensor
                }
            }
            val missing = inputNames.filter { it !in inputTensors }
            if (missing.isNotEmpty() || inputTensors.size != inputNames.size) {
                throw ModelShapeException("the model's inputs are ${inputTensors.keys.sorted()}; this SDK feeds $inputNames")
            }
            val inputs = inputNames.map { name ->
                val (index, tensor) = inputTensors.getValue(name)
                val shape = tensor.shape()
                if (!(shape.size == 2 && shape[0] == 1 && shape[1] == sequenceLength)) {
                    throw ModelShapeException(
                        "model input '$name' has shape ${shape.contentToString()}; this SDK feeds [1, $sequenceLength]",
                    )
                }
                val type = tensor.dataType()
                val width = when (type) {
                    DataType.INT32 -> 4
                    DataType.INT64 -> 8
                    else -> throw ModelShapeException("model input '$name' is $type; this SDK feeds int32 or int64 token ids")
                }
                Input(name, index, type, ByteBuffer.allocateDirect(sequenceLength * width).order(ByteOrder.nativeOrder()))
            }
            // A model without a signature names its output after the graph node; one output is unambiguous.
            val outName = if (outputName in outputTensors) {
                outputName
            } else {
                outputTensors.keys.singleOrNull()
                    ?: throw ModelShapeException("the model has no output '$outputName' (outputs: ${outputTensors.keys.sorted()})")
            }
            val (outIndex, outTensor) = outputTensors.getValue(outName)
            val outShape = outTensor.shape()
            val size = outShape.fold(1) { acc, d -> acc * d }
            if (outShape.isEmpty() || outShape[0] != 1 || (expectedOutputSize >= 0 && size != expectedOutputSize)) {
                val expected = if (expectedOutputSize >= 0) "[1, $expectedOutputSize]" else "[1, n]"
                throw ModelShapeException("model output '$outputName' has shape ${outShape.contentToString()}; expected $expected")
            }
            val outType = outTensor.dataType()
            val width = when (outType) {
                DataType.FLOAT32 -> 4
                DataType.INT8, DataType.UINT8 -> 1
                else -> throw ModelShapeException("model output '$outputName' is $outType; expected float32, int8 or uint8")
            }
            val quantization = outTensor.quantizationParams()
            val output = Output(
                outName,
                outIndex,
                outType,
                quantization.scale,
                quantization.zeroPoint,
                size,
                ByteBuffer.allocateDirect(size * width).order(ByteOrder.nativeOrder()),
            )
            return TfliteModel(interpreter, key, inputs, output, ownsInterpreter)
        }

        /** 'serving_default_input_ids:0' -> 'input_ids', as mobilekit's Python runner names tensors. */
        fun cleanName(name: String): String = name.replace(TENSOR_SUFFIX, "").removePrefix("serving_default_")
    }
}
