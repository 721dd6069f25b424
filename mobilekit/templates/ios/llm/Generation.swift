// mobilekit LLM runtime: the generation loop over a model's prefill and decode functions. A real
// Swift file, copied as is into each generated package. The loop is specified in
// mobilekit/llm/generation.py; loop goldens recorded there from the converted model prove this file
// makes the same calls and picks the same tokens (the Kotlin twin is Generation.kt).

import Foundation

/// What the loop needs from a model runtime: Core ML on a device, a recording in the tests.
/// `GenerationEngine` makes one call at a time, so an implementation needs no locking of its own.
public protocol LanguageModelBackend: AnyObject {
    var vocabularySize: Int { get }

    /// KV-cache slots: prompt plus generated tokens can never exceed it.
    var contextLength: Int { get }

    /// The prefill functions' lengths (`prefill_<n>`), ascending.
    var prefillLengths: [Int] { get }

    /// Runs `signature` (`prefill_<n>` or `decode`) on `tokens` at `positions` (padding: token 0 at
    /// position -1), writing their keys and values into the KV cache, and returns the logits of row
    /// `row` (the last real token). Cache slots after a position need no clearing: the model's mask
    /// lets a token see only slots at or before its own position.
    func run(signature: String, tokens: [Int32], positions: [Int32], row: Int) throws -> [Float]
}

/// How to generate. The initializer throws `SamplerError.invalidConfig` for a value out of range.
public struct GenerationConfig: Sendable, Equatable {
    /// Greedy, at most 256 new tokens, stopped by the model's own stop tokens.
    public static let `default` = try! GenerationConfig()  // the defaults are valid

    public let maxNewTokens: Int
    public let sampler: SamplerConfig
    /// Text that ends generation; it is never shown, even when it spans several tokens.
    public let stopStrings: [String]
    /// Token ids that end generation; nil: the model's own (end of text, end of turn).
    public let stopTokenIds: Set<Int>?

    /// `temperature` 0 is greedy (always the most likely token); `topK` 0, `topP` 1 and
    /// `repetitionPenalty` 1 are off. Same seed, same prompt, same model: same tokens, on every platform.
    public init(
        maxNewTokens: Int = 256, temperature: Double = 0, topK: Int = 0, topP: Double = 1,
        repetitionPenalty: Double = 1, seed: UInt64 = 0, stopStrings: [String] = [], stopTokenIds: Set<Int>? = nil
    ) throws {
        sampler = try SamplerConfig(
            temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty, seed: seed)
        _ = try StopCriteria(stopStrings: stopStrings, maxNewTokens: maxNewTokens)  // validates
        self.maxNewTokens = maxNewTokens
        self.stopStrings = stopStrings
        self.stopTokenIds = stopTokenIds
    }

    public var temperature: Double { sampler.temperature }
    public var topK: Int { sampler.topK }
    public var topP: Double { sampler.topP }
    public var repetitionPenalty: Double { sampler.repetitionPenalty }
    public var seed: UInt64 { sampler.seed }

    func criteria(defaultStopTokenIds: Set<Int>) throws -> StopCriteria {
        try StopCriteria(
            stopTokenIds: stopTokenIds ?? defaultStopTokenIds, stopStrings: stopStrings, maxNewTokens: maxNewTokens)
    }
}

/// What one generation produced.
public struct GenerationResult: Sendable, Equatable {
    public let text: String
    public let tokenIds: [Int32]
    public let promptTokens: Int
    /// Prompt tokens whose KV-cache entries were kept from the previous generation (not recomputed).
    public let reusedTokens: Int
    /// Why generation stopped; nil when it was cancelled.
    public let stopReason: StopReason?
}

/// Why a generation could not run, each with a message that says what to do.
public enum GenerationError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The prompt encodes to no token: there is nothing to predict from.
    case emptyPrompt
    /// The prompt does not fit the KV cache; the SDK never truncates it.
    case promptTooLong(promptTokens: Int, contextLength: Int)
    /// `close()` was called: the model is gone.
    case closed
    /// A chat call on a model without a chat template.
    case noChatTemplate
    /// The model's inputs or outputs are not the ones this runtime was written for.
    case unexpectedModel(String)

    public var description: String {
        switch self {
        case .emptyPrompt:
            return "the prompt is empty: give at least one character of text"
        case .promptTooLong(let promptTokens, let contextLength):
            return "the prompt has \(promptTokens) tokens but the model's context holds \(contextLength): "
                + "shorten it (or start a new chat session)"
        case .closed:
            return "the model is closed: create a new instance to generate again"
        case .noChatTemplate:
            return "this model has no chat template: use generate() with your own prompt format"
        case .unexpectedModel(let reason):
            return "the model does not match this runtime: \(reason); regenerate the package with mobilekit"
        }
    }

    public var errorDescription: String? { description }
}

/// The loop, and the ids its backend's KV cache holds. Generations run one at a time, in the order
/// they were asked for: each runs on the engine's serial queue (`exclusive` runs one on the calling
/// thread), so one engine can be shared by any number of threads.
///
/// `@unchecked Sendable`: `backend` and `cached` are only touched on `queue`; `closed` is guarded by
/// `lock`.
public final class GenerationEngine: @unchecked Sendable {
    public static let padPosition: Int32 = -1

    public let tokenizer: ByteLevelBPETokenizer
    /// KV-cache slots: prompt plus generated tokens can never exceed it.
    public let contextLength: Int
    private var backend: LanguageModelBackend?  // nil once closed
    // Ids whose keys and values sit in cache slots 0..<count; valid only between generations.
    private var cached: [Int] = []
    private let queue = DispatchQueue(label: "mobilekit.llm.generation", qos: .userInitiated)
    private let lock = NSLock()
    private var closed = false

    /// The engine owns `backend` from now on: nothing else may call it.
    public init(tokenizer: ByteLevelBPETokenizer, backend: LanguageModelBackend) {
        self.tokenizer = tokenizer
        self.backend = backend
        contextLength = backend.contextLength
    }

    /// Runs `body` with the engine to itself, on the calling thread, once the generations asked for
    /// earlier have finished. Starting another generation or closing the engine inside `body`
    /// deadlocks.
    public func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        try queue.sync(execute: body)
    }

    /// `exclusive` without waiting: `body` runs on the engine's queue.
    func enqueue(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }

    /// Starts a generation; call it, and the run's `step`, inside `exclusive`. With `reuseCache`,
    /// cache entries of the previous generation that match the prompt's first ids are kept.
    public func start(
        prompt: [Int32], config: GenerationConfig, defaultStopTokenIds: Set<Int>, reuseCache: Bool
    ) throws -> Run {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let backend, !isClosed else { throw GenerationError.closed }
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count <= contextLength else {
            throw GenerationError.promptTooLong(promptTokens: prompt.count, contextLength: contextLength)
        }
        let ids = prompt.map(Int.init)
        // The last prompt token is always fed: its logits start the text.
        let keep = min(reuseCache ? Self.commonPrefix(cached, ids) : 0, ids.count - 1)
        let run = try Run(
            engine: self, backend: backend, prompt: ids, reusedTokens: keep, config: config,
            criteria: config.criteria(defaultStopTokenIds: defaultStopTokenIds))
        cached = []  // until the run has stepped, the cache holds nothing reusable
        return run
    }

    /// Frees the model once the running generation (if any) has finished its current step; that
    /// generation, and every later one, throws `GenerationError.closed`.
    public func close() {
        lock.locked { closed = true }
        queue.sync { backend = nil }
    }

    private var isClosed: Bool { lock.locked { closed } }

    /// One generation: each `step` samples one token (running the model once) and says what to show.
    public final class Run {
        public let reusedTokens: Int
        private let engine: GenerationEngine
        private let backend: LanguageModelBackend
        private let prompt: [Int]
        private var sampler: Sampler
        private var tracker: StopTracker
        private var decoder: ByteLevelBPETokenizer.StreamingDecoder
        private var tokens: [Int]  // prompt + generated
        private var text = ""
        private var started = false

        init(
            engine: GenerationEngine, backend: LanguageModelBackend, prompt: [Int], reusedTokens: Int,
            config: GenerationConfig, criteria: StopCriteria
        ) throws {
            self.engine = engine
            self.backend = backend
            self.prompt = prompt
            self.reusedTokens = reusedTokens
            sampler = Sampler(config: config.sampler)
            tracker = try StopTracker(
                criteria: criteria, promptTokens: prompt.count, contextLength: engine.contextLength)
            decoder = engine.tokenizer.streamingDecoder(skipSpecialTokens: true)
            tokens = prompt
        }

        public var promptTokens: Int { prompt.count }
        /// Why the run stopped; nil while it goes on.
        public var stopReason: StopReason? { tracker.stopped }

        public func step() throws -> StopStep {
            guard tracker.stopped == nil else { throw SamplerError.alreadyStopped }
            guard !engine.isClosed else { throw GenerationError.closed }
            let logits: [Float]
            do {
                logits = try started ? decodeLast() : prefill()
            } catch {
                engine.cached = []  // the model may have written part of the cache
                throw error
            }
            started = true
            let token = try sampler.sample(logits: logits, previousTokens: tokens)
            tokens.append(token)
            let step = try tracker.accept(token: token, delta: decoder.push(Int32(token)))
            text += step.text
            engine.cached = Array(tokens.dropLast())  // every token but the newest has been through the model
            return step
        }

        /// What was generated so far (stopReason nil if the run has not stopped).
        public func result() -> GenerationResult {
            GenerationResult(
                text: text, tokenIds: tokens[prompt.count...].map(Int32.init), promptTokens: prompt.count,
                reusedTokens: reusedTokens, stopReason: tracker.stopped)
        }

        private func prefill() throws -> [Float] {
            var position = reusedTokens
            var logits: [Float] = []
            let plan = GenerationEngine.prefillPlan(count: prompt.count - reusedTokens, lengths: backend.prefillLengths)
            for size in plan {
                let length = min(size, prompt.count - position)
                var chunk = [Int32](repeating: 0, count: size)
                var positions = [Int32](repeating: GenerationEngine.padPosition, count: size)
                for index in 0..<length {
                    chunk[index] = Int32(prompt[position + index])
                    positions[index] = Int32(position + index)
                }
                logits = try backend.run(
                    signature: "prefill_\(size)", tokens: chunk, positions: positions, row: length - 1)
                position += length
            }
            return logits
        }

        private func decodeLast() throws -> [Float] {
            let position = tokens.count - 1
            return try backend.run(
                signature: "decode", tokens: [Int32(tokens[position])], positions: [Int32(position)], row: 0)
        }
    }

    /// Chunk sizes for `count` prompt tokens: the largest length while more remains, then the
    /// smallest that fits.
    public static func prefillPlan(count: Int, lengths: [Int]) -> [Int] {
        guard let largest = lengths.max() else { return [] }
        var plan: [Int] = []
        var left = count
        while left > 0 {
            if left >= largest {
                plan.append(largest)
                left -= largest
            } else {
                plan.append(lengths.filter { $0 >= left }.min() ?? largest)
                left = 0
            }
        }
        return plan
    }

    private static func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
        zip(a, b).prefix { $0.0 == $0.1 }.count
    }
}

extension NSLock {
    /// `body` with the lock held (`withLock` needs iOS 16).
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
