package mobilekit.generated

/** Everything that can go wrong with the model itself. Misuse (bad options, use after close) throws the usual IllegalArgumentException / IllegalStateException. */
sealed class ModelException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

/** The model, vocabulary or manifest asset is missing, empty or not a TFLite model. */
class ModelLoadException(message: String, cause: Throwable? = null) : ModelException(message, cause)

/** A model tensor does not have the shape or type this SDK was generated for. */
class ModelShapeException(message: String) : ModelException(message)

/** The interpreter failed while running the model. */
class InferenceException(message: String, cause: Throwable? = null) : ModelException(message, cause)
