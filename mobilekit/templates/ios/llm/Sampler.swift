// mobilekit LLM runtime: token sampling and stopping. A real Swift file, copied as is into each
// generated package. The rules are specified in mobilekit/llm/sampling.py; goldens recorded there
// prove this file picks the same tokens as Python and Kotlin.

/// Invalid sampler or stop settings, or logits no token can be chosen from.
public enum SamplerError: Error, Equatable, Sendable {
    case invalidConfig(String)
    case noUsableLogits
    case promptTooLong(promptTokens: Int, contextLength: Int)
    case alreadyStopped
}

/// temperature 0 = greedy; topK 0 = off; topP 1 = off; repetitionPenalty 1 = off.
public struct SamplerConfig: Sendable, Equatable {
    public let temperature: Double
    public let topK: Int
    public let topP: Double
    public let repetitionPenalty: Double
    /// The same seed gives the same tokens on every platform.
    public let seed: UInt64

    public init(
        temperature: Double = 0, topK: Int = 0, topP: Double = 1, repetitionPenalty: Double = 1, seed: UInt64 = 0
    ) throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw SamplerError.invalidConfig("temperature must be a finite number >= 0, got \(temperature)")
        }
        guard topK >= 0 else { throw SamplerError.invalidConfig("topK must be >= 0 (0 = off), got \(topK)") }
        guard topP > 0, topP <= 1 else {
            throw SamplerError.invalidConfig("topP must be in (0, 1] (1 = off), got \(topP)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw SamplerError.invalidConfig(
                "repetitionPenalty must be a finite number > 0 (1 = off), got \(repetitionPenalty)")
        }
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public var isGreedy: Bool { temperature == 0 }
}

/// SplitMix64: the random stream Python, Kotlin and Swift share (wrapping UInt64 arithmetic).
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 53 random bits scaled into [0, 1): exact, so every platform gets the same double.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Picks tokens for one generation: the config plus its random stream (a value: copy = same stream).
public struct Sampler: Sendable {
    public let config: SamplerConfig
    private var rng: SplitMix64

    public init(config: SamplerConfig) {
        self.config = config
        rng = SplitMix64(seed: config.seed)
    }

    /// The next token from `logits` (one row, vocab-sized); `previousTokens` = prompt + generated.
    public mutating func sample(logits: [Float], previousTokens: [Int]) throws -> Int {
        let scores = SamplingMath.penalized(logits, previousTokens, config.repetitionPenalty)
        guard let best = SamplingMath.argmax(scores), scores[best] > -Double.infinity else {
            throw SamplerError.noUsableLogits
        }
        if config.isGreedy { return best }
        let draw = rng.nextDouble()  // one draw per call, whatever is kept: streams stay aligned
        let scaled = scores.map { value -> Double in
            let z = value / config.temperature
            return z == Double.infinity ? Double.greatestFiniteMagnitude : z
        }
        return pick(scaled, draw)
    }

    private func pick(_ z: [Double], _ draw: Double) -> Int {
        let top = z.max() ?? -Double.infinity
        let order = SamplingMath.candidates(z, top)
        let kept = config.topK > 0 && config.topK < order.count ? Array(order[0..<config.topK]) : order
        var sums = [Double]()
        sums.reserveCapacity(kept.count)
        var total = 0.0
        for id in kept {
            total += SamplingMath.detExp(z[id] - top)
            sums.append(total)
        }
        var last = kept.count - 1
        if config.topP < 1 {
            let bound = config.topP * total
            last = 0
            while sums[last] < bound { last += 1 }
        }
        let target = draw * sums[last]
        for index in 0...last where target < sums[index] { return kept[index] }
        return kept[last]
    }
}

/// The arithmetic every platform must do identically (see mobilekit/llm/sampling.py).
enum SamplingMath {
    static let candidateWindow = 30.0
    static let invLn2 = 1.4426950408889634
    static let ln2Hi = 0.6931471803691238  // 21 trailing zero bits: k * ln2Hi is exact
    static let ln2Lo = 1.9082149292705877e-10
    /// 1/n! for n = 13 down to 2 (Horner order).
    static let coefficients: [Double] = [
        1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
        2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889,
        0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5,
    ]

    /// e^x for -708 <= x <= 0 (0 below) from + - * / and floor only: libm's exp differs by platform.
    static func detExp(_ x: Double) -> Double {
        if x < -708 { return 0 }
        let k = (x * invLn2 + 0.5).rounded(.down)
        let r = (x - k * ln2Hi) - k * ln2Lo
        var p = coefficients[0]
        for c in coefficients.dropFirst() { p = p * r + c }
        p = p * r + 1
        p = p * r + 1
        return p * Double(bitPattern: UInt64(Int64(k) + 1023) << 52)  // 2^k, exact scaling
    }

    /// Step 1: float32 -> double, previous tokens penalised (from their own logit), NaN -> -inf.
    static func penalized(_ logits: [Float], _ previous: [Int], _ penalty: Double) -> [Double] {
        var scores = logits.map { Double($0) }
        if penalty != 1 {
            for token in previous where token >= 0 && token < scores.count {
                let x = Double(logits[token])
                scores[token] = x < 0 ? x * penalty : x / penalty
            }
        }
        return scores.map { $0.isNaN ? -Double.infinity : $0 }
    }

    /// The first index of the largest value (nil when empty).
    static func argmax(_ values: [Double]) -> Int? {
        guard !values.isEmpty else { return nil }
        var best = 0
        for index in 1..<values.count where values[index] > values[best] { best = index }
        return best
    }

    /// Ids within the window of the top score, by score descending then id ascending (IEEE compare).
    static func candidates(_ z: [Double], _ top: Double) -> [Int] {
        var ids = z.indices.filter { z[$0] - top >= -candidateWindow }
        ids.sort { z[$0] > z[$1] || (z[$0] == z[$1] && $0 < $1) }
        return ids
    }
}

public enum StopReason: String, Sendable {
    case stopToken = "stop_token"
    case stopString = "stop_string"
    case maxNewTokens = "max_new_tokens"
    /// The last token has no KV-cache slot left; the SDK never truncates or shifts the context.
    case contextFull = "context_full"
}

public struct StopCriteria: Sendable {
    public let stopTokenIds: Set<Int>
    public let stopStrings: [String]
    public let maxNewTokens: Int

    public init(stopTokenIds: Set<Int> = [], stopStrings: [String] = [], maxNewTokens: Int = 256) throws {
        guard maxNewTokens >= 1 else {
            throw SamplerError.invalidConfig("maxNewTokens must be >= 1, got \(maxNewTokens)")
        }
        guard stopStrings.allSatisfy({ !$0.isEmpty }) else {
            throw SamplerError.invalidConfig("stop strings must be non-empty")
        }
        self.stopTokenIds = stopTokenIds
        self.stopStrings = stopStrings
        self.maxNewTokens = maxNewTokens
    }
}

/// What a stream may show after a token, and the reason generation ended (nil while it goes on).
public struct StopStep: Sendable, Equatable {
    public let text: String
    public let stop: StopReason?
}

/// Decides after each token what text is safe to emit and whether generation is over. Text that
/// could start a stop string is held back, so a stream never shows part of one. Works on UTF-8
/// bytes, not Characters: a stop string must match where Python and Kotlin match it, even before
/// a combining mark.
public struct StopTracker: Sendable {
    public let criteria: StopCriteria
    public let promptTokens: Int
    public let contextLength: Int
    public private(set) var generated = 0
    public private(set) var stopped: StopReason?
    private var text: [UInt8] = []
    private var emitted = 0  // text[0..<emitted] has been emitted
    private let stops: [[UInt8]]

    public init(criteria: StopCriteria, promptTokens: Int, contextLength: Int) throws {
        guard promptTokens <= contextLength else {
            throw SamplerError.promptTooLong(promptTokens: promptTokens, contextLength: contextLength)
        }
        self.criteria = criteria
        self.promptTokens = promptTokens
        self.contextLength = contextLength
        stops = criteria.stopStrings.map { Array($0.utf8) }
    }

    /// `token` was generated and decodes to `delta` (complete characters from the stream decoder).
    public mutating func accept(token: Int, delta: String) throws -> StopStep {
        guard stopped == nil else { throw SamplerError.alreadyStopped }
        generated += 1
        if criteria.stopTokenIds.contains(token) { return stop(.stopToken, flush()) }
        text.append(contentsOf: delta.utf8)
        if let match = firstMatch() {
            let out = string(emitted, match)
            emitted = text.count
            return stop(.stopString, out)
        }
        if generated >= criteria.maxNewTokens { return stop(.maxNewTokens, flush()) }
        if promptTokens + generated > contextLength { return stop(.contextFull, flush()) }
        let safe = text.count - heldBack()
        let out = string(emitted, safe)
        emitted = safe
        return StopStep(text: out, stop: nil)
    }

    /// Held-back text, for a loop that ends for its own reason (cancellation).
    public mutating func flush() -> String {
        let out = string(emitted, text.count)
        emitted = text.count
        return out
    }

    private mutating func stop(_ reason: StopReason, _ out: String) -> StopStep {
        stopped = reason
        return StopStep(text: out, stop: reason)
    }

    // Cut points are character boundaries: a match or a stop-string prefix starts with a lead byte.
    private func string(_ start: Int, _ end: Int) -> String {
        String(decoding: text[start..<end], as: UTF8.self)
    }

    // A match never starts before `emitted`: text that could start one is never emitted.
    private func firstMatch() -> Int? {
        var best: Int?
        for stop in stops {
            if let at = Self.find(stop, in: text, from: emitted), best.map({ at < $0 }) ?? true { best = at }
        }
        return best
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count - start >= needle.count else { return nil }
        for at in start...(haystack.count - needle.count) where haystack[at...].starts(with: needle) { return at }
        return nil
    }

    /// Length of the longest unemitted suffix that a stop string starts with.
    private func heldBack() -> Int {
        let longest = min((stops.map { $0.count }.max() ?? 1) - 1, text.count - emitted)
        guard longest > 0 else { return 0 }
        for length in stride(from: longest, through: 1, by: -1) {
            let tail = text[(text.count - length)...]
            if stops.contains(where: { $0.starts(with: tail) }) { return length }
        }
        return 0
    }
}
