// mobilekit LLM runtime: a converted model's prefill and decode functions run by Core ML. A real
// Swift file, copied as is into each generated package (the Kotlin twin, for LiteRT, is
// TfliteLanguageModelBackend.kt). Linux has no Core ML: there, only the rest of the runtime builds.

#if canImport(CoreML)
import CoreML
import Foundation

/// Runs the multifunction `.mlpackage` written by mobilekit/llm/coreml_convert.py (iOS 18 /
/// macOS 15): functions `prefill_<n>` and `decode`, with inputs `tokens` int32 [1, n], `input_pos`
/// int32 [n] and one [1, kvHeads, contextLength, headDim] cache per `kv_cache_k_<layer>` and
/// `kv_cache_v_<layer>` (float16, or float32 for the float32 variant); outputs `logits` float32
/// [1, n, vocab] and the updated caches, `<cache>_out`. One `MLModel` per function, each the same
/// package loaded with `MLModelConfiguration.functionName`. Each call's output caches are the next
/// call's inputs as they are (no copy); the first call's are zeros. Not thread-safe by itself:
/// `GenerationEngine` makes one call at a time.
@available(iOS 18.0, macOS 15.0, *)
public final class CoreMLLanguageModelBackend: LanguageModelBackend {
    public let vocabularySize: Int
    public let contextLength: Int
    public let prefillLengths: [Int]
    private let functions: [String: MLModel]
    private let cacheNames: [String]
    private var caches: [String: MLMultiArray]

    /// Loads the package at `packageURL`, shipped as is (`.copy` in Package.swift) and compiled on
    /// the device the first time; the compiled model is kept at `compiledPath` in the caches folder,
    /// so later launches load it directly. `compiledPath` must name this build of the model, e.g.
    /// `<Module>/<variant>-<sha256>.mlmodelc`: a new model then gets a new name. The other values
    /// are the ones the model was converted with.
    public static func load(
        packageURL: URL, compiledPath: String, numLayers: Int, contextLength: Int, prefillLengths: [Int],
        vocabularySize: Int, computeUnits: MLComputeUnits = .all
    ) async throws -> CoreMLLanguageModelBackend {
        let compiled = try await compiledModel(packageURL, at: compiledPath)
        var functions: [String: MLModel] = [:]
        for name in prefillLengths.map({ "prefill_\($0)" }) + ["decode"] {
            let configuration = MLModelConfiguration()
            configuration.computeUnits = computeUnits
            configuration.functionName = name
            functions[name] = try await MLModel.load(contentsOf: compiled, configuration: configuration)
        }
        return try CoreMLLanguageModelBackend(
            functions: functions, numLayers: numLayers, contextLength: contextLength,
            prefillLengths: prefillLengths, vocabularySize: vocabularySize)
    }

    private init(
        functions: [String: MLModel], numLayers: Int, contextLength: Int, prefillLengths: [Int], vocabularySize: Int
    ) throws {
        guard let decode = functions["decode"], !prefillLengths.isEmpty else {
            throw GenerationError.unexpectedModel("it needs a decode function and at least one prefill function")
        }
        self.functions = functions
        self.contextLength = contextLength
        self.prefillLengths = prefillLengths
        self.vocabularySize = vocabularySize
        cacheNames = (0..<numLayers).flatMap { ["kv_cache_k_\($0)", "kv_cache_v_\($0)"] }
        var caches: [String: MLMultiArray] = [:]
        for name in cacheNames { caches[name] = try Self.zeroCache(name, of: decode, contextLength: contextLength) }
        self.caches = caches
    }

    public func run(signature: String, tokens: [Int32], positions: [Int32], row: Int) throws -> [Float] {
        guard let model = functions[signature] else {
            throw GenerationError.unexpectedModel("no function \(signature) was loaded")
        }
        var inputs: [String: MLFeatureValue] = [
            "tokens": MLFeatureValue(multiArray: try Self.int32Array(tokens, shape: [1, tokens.count])),
            "input_pos": MLFeatureValue(multiArray: try Self.int32Array(positions, shape: [positions.count])),
        ]
        for (name, cache) in caches { inputs[name] = MLFeatureValue(multiArray: cache) }
        let outputs = try model.prediction(from: try MLDictionaryFeatureProvider(dictionary: inputs))
        var next: [String: MLMultiArray] = [:]
        for name in cacheNames {
            guard let cache = outputs.featureValue(for: name + "_out")?.multiArrayValue else {
                throw GenerationError.unexpectedModel("\(signature) has no output \(name)_out")
            }
            next[name] = cache
        }
        guard let logits = outputs.featureValue(for: "logits")?.multiArrayValue, logits.dataType == .float32,
            logits.shape.map(\.intValue) == [1, tokens.count, vocabularySize]
        else {
            throw GenerationError.unexpectedModel(
                "\(signature) must output logits float32 [1, \(tokens.count), \(vocabularySize)]")
        }
        caches = next
        return Self.row(row, of: logits)
    }

    /// A zero cache of the shape and type (float16 or float32) the model declares for `name`. Zeros,
    /// not whatever the memory held: a masked-out NaN would still poison the attention sums.
    private static func zeroCache(_ name: String, of model: MLModel, contextLength: Int) throws -> MLMultiArray {
        guard let constraint = model.modelDescription.inputDescriptionsByName[name]?.multiArrayConstraint,
            constraint.dataType == .float16 || constraint.dataType == .float32,
            constraint.shape.count == 4, constraint.shape[2].intValue == contextLength
        else {
            throw GenerationError.unexpectedModel(
                "its decode function needs an input \(name), float16 or float32 [1, kv heads, \(contextLength), "
                    + "head dim]")
        }
        let cache = try MLMultiArray(shape: constraint.shape, dataType: constraint.dataType)
        cache.withUnsafeMutableBytes { bytes, _ in _ = bytes.initializeMemory(as: UInt8.self, repeating: 0) }
        return cache
    }

    private static func int32Array(_ values: [Int32], shape: [Int]) throws -> MLMultiArray {
        let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .int32)
        array.withUnsafeMutableBytes { bytes, strides in
            let slots = bytes.bindMemory(to: Int32.self)
            for (index, value) in values.enumerated() { slots[index * strides[strides.count - 1]] = value }
        }
        return array
    }

    /// Row `row` of logits [1, n, vocab], read through the array's strides (Core ML may pad rows).
    private static func row(_ row: Int, of logits: MLMultiArray) -> [Float] {
        let strides = logits.strides.map(\.intValue)
        let count = logits.shape[2].intValue
        return logits.withUnsafeBytes { bytes in
            let values = bytes.bindMemory(to: Float.self)
            return (0..<count).map { values[row * strides[1] + $0 * strides[2]] }
        }
    }

    private static func compiledModel(_ packageURL: URL, at path: String) async throws -> URL {
        let files = FileManager.default
        let caches = try files.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        let destination = caches.appendingPathComponent(path, isDirectory: true)
        if files.fileExists(atPath: destination.path) {
            return destination
        }
        let compiled = try await MLModel.compileModel(at: packageURL)
        try files.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        do {
            try files.moveItem(at: compiled, to: destination)
        } catch {
            guard files.fileExists(atPath: destination.path) else {
                throw error
            }
            // Another instance compiled it at the same time: use theirs.
            try? files.removeItem(at: compiled)
        }
        return destination
    }
}
#endif
