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
