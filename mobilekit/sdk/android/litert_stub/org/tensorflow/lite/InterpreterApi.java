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

/** Interface to a TensorFlow Lite model interpreter (upstream: org.tensorflow.lite.InterpreterApi). */
public interface InterpreterApi extends AutoCloseable {
    /** Options for configuring the interpreter. */
    class Options {
        public Options() {
        }

        public Options(Options other) {
        }

        public Options setNumThreads(int numThreads) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public int getNumThreads() {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public Options setUseNNAPI(boolean useNNAPI) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public Options setUseXNNPACK(boolean useXNNPACK) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public Options setCancellable(boolean allow) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }

        public Options addDelegate(Delegate delegate) {
            throw new UnsupportedOperationException("compile-only LiteRT API stub");
        }
    }

    static InterpreterApi create(File modelFile, Options options) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    static InterpreterApi create(ByteBuffer byteBuffer, Options options) {
        throw new UnsupportedOperationException("compile-only LiteRT API stub");
    }

    void run(Object input, Object output);

    void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs);

    void allocateTensors();

    void resizeInput(int idx, int[] dims);

    void resizeInput(int idx, int[] dims, boolean strict);

    int getInputTensorCount();

    int getInputIndex(String opName);

    Tensor getInputTensor(int inputIndex);

    int getOutputTensorCount();

    int getOutputIndex(String opName);

    Tensor getOutputTensor(int outputIndex);

    Long getLastNativeInferenceDurationNanoseconds();

    @Override
    void close();
}
