/*
 * COMPILE-ONLY declaration of the LiteRT Java API used by mobilekit's generated Android libraries.
 *
 * Mirrors the public signatures of com.google.ai.edge.litert:litert:1.4.1 (package
 * org.tensorflow.lite, which continues the TensorFlow Lite 2.x Java API), written by hand from the
 * upstream sources because no reachable registry serves that AAR. Every body throws: this code is
 * only put on kotlinc's classpath to type-check the library, and is NEVER packaged into an AAR
 * (the packager checks that no org/tensorflow class ends up in classes.jar). At run time the
 * app gets the real classes from the LiteRT dependency the POM declares.
 */
package org.tensorflow.lite;

import java.io.File;
import java.nio.ByteBuffer;
import java.util.Map;

/** Driver class to drive model inference with TensorFlow Lite (upstream: org.tensorflow.lite.Interpreter). */
public final class Interpreter implements InterpreterApi {
    /** Options for configuring the interpreter (covariant setters, as upstream). */
    public static class Options extends InterpreterApi.Options {
        public Options() {
        }

        public Options(InterpreterApi.Options options) {
        }

        @Override
        public Options setNumThreads(int numThreads) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        @Override
        public Options setUseNNAPI(boolean useNNAPI) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        @Override
        public Options setUseXNNPACK(boolean useXNNPACK) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        @Override
        public Options setCancellable(boolean allow) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        @Override
        public Options addDelegate(Delegate delegate) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public Options setAllowFp16PrecisionForFp32(boolean allow) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }
    }

    public Interpreter(File modelFile) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public Interpreter(File modelFile, Options options) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public Interpreter(ByteBuffer byteBuffer) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void run(Object input, Object output) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public String[] getSignatureKeys() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public String[] getSignatureInputs(String signatureKey) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public String[] getSignatureOutputs(String signatureKey) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public Tensor getInputTensorFromSignature(String inputName, String signatureKey) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    public Tensor getOutputTensorFromSignature(String outputName, String signatureKey) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void allocateTensors() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void resizeInput(int idx, int[] dims) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void resizeInput(int idx, int[] dims, boolean strict) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public int getInputTensorCount() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public int getInputIndex(String opName) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public Tensor getInputTensor(int inputIndex) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public int getOutputTensorCount() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public int getOutputIndex(String opName) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public Tensor getOutputTensor(int outputIndex) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public Long getLastNativeInferenceDurationNanoseconds() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }
}
