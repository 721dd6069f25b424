// Reads the loop goldens Python recorded from the converted model (format: mobilekit/llm/loop_goldens.py).
// A real Swift test file, copied into the package's test target with only its `@testable import`
// line rewritten to the package's module; the golden file is the resource Goldens/loop_goldens.txt,
// next to the model's tokenizer asset Goldens/tokenizer.mkbpe.

import Foundation
import XCTest

@testable import MobilekitLLM

private typealias Field = LlmGoldenFile  // its readers of ints, hex floats and hex texts

struct LoopGoldenFile {
    /// Turns run one after the other on one engine, so a `reuse` turn sees the cache the turns
    /// before it left.
    struct Case {
        let name: String
        let vocabularySize: Int
        let contextLength: Int
        let prefillLengths: [Int]
        let turns: [Turn]
    }

    struct Turn {
        let prompt: [Int32]
        let config: GenerationConfig
        let reuse: Bool
        let calls: [Call]
        let expected: Expected
    }

    /// One model call and the logits row the loop reads: the recorded top values, the rest -inf.
    struct Call {
        let signature: String
        let tokens: [Int32]
        let positions: [Int32]
        let row: Int
        let logits: [(id: Int, value: Float)]
    }

    enum Expected {
        case generation(stop: String, chunks: [String], tokens: [Int32], reused: Int)
        /// The turn must fail before any model call: "empty_prompt" or "prompt_too_long".
        case failure(String)
    }

    var cases: [Case] = []

    static func load() throws -> LoopGoldenFile {
        try LoopGoldenFile(text: String(decoding: Data(contentsOf: try resource("loop_goldens", "txt")), as: UTF8.self))
    }

    /// The tokenizer of the model the goldens were recorded with.
    static func tokenizer() throws -> ByteLevelBPETokenizer {
        try ByteLevelBPETokenizer(contentsOf: try resource("tokenizer", "mkbpe"))
    }

    private static func resource(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Goldens"))
    }

    init(text: String) throws {
        var lines = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }[...]
        guard lines.popFirst() == ["mobilekit-loop-goldens", "1"] else {
            throw Field.GoldenError.format("not a mobilekit loop golden file")
        }
        while let c = lines.popFirst() {
            guard c[0] == "case" else { throw Field.GoldenError.format("expected a case, got \(c[0])") }
            let turns = try (0..<(try Field.int(c[5]))).map { _ in try Self.turn(&lines) }
            cases.append(
                Case(
                    name: c[1], vocabularySize: try Field.int(c[2]), contextLength: try Field.int(c[3]),
                    prefillLengths: try Field.ints(c[4]), turns: turns))
        }
    }

    /// A turn line, its call lines and its expect line.
    private static func turn(_ lines: inout ArraySlice<[String]>) throws -> Turn {
        let t = try next(&lines, "turn")
        let calls = try (0..<(try Field.int(t[11]))).map { _ in try call(try next(&lines, "call")) }
        let outcome = try expected(try next(&lines, "expect"))
        let config = try GenerationConfig(
            maxNewTokens: try Field.int(t[7]), temperature: try Field.double(decimal: t[2]), topK: try Field.int(t[3]),
            topP: try Field.double(decimal: t[4]), repetitionPenalty: try Field.double(decimal: t[5]),
            seed: try Field.u64(t[6]), stopStrings: try Field.texts(t[9]), stopTokenIds: Set(try Field.ints(t[8])))
        return Turn(prompt: try int32s(t[1]), config: config, reuse: t[10] == "1", calls: calls, expected: outcome)
    }

    private static func next(_ lines: inout ArraySlice<[String]>, _ kind: String) throws -> [String] {
        guard let line = lines.popFirst(), line.first == kind else {
            throw Field.GoldenError.format("expected a \(kind) line")
        }
        return line
    }

    private static func call(_ f: [String]) throws -> Call {
        let logits = try f.dropFirst(6).map { pair -> (id: Int, value: Float) in
            let parts = pair.split(separator: ":").map(String.init)
            return (try Field.int(parts[0]), try Field.float(parts[1]))
        }
        guard logits.count == (try Field.int(f[5])) else {
            throw Field.GoldenError.format("call \(f[1]): \(f[5]) logits announced, \(logits.count) given")
        }
        return Call(
            signature: f[1], tokens: try int32s(f[2]), positions: try int32s(f[3]), row: try Field.int(f[4]),
            logits: logits)
    }

    private static func expected(_ f: [String]) throws -> Expected {
        if f[1].hasPrefix("!") { return .failure(String(f[1].dropFirst())) }
        return .generation(
            stop: f[1], chunks: try Field.texts(f[2]), tokens: try int32s(f[3]), reused: try Field.int(f[4]))
    }

    private static func int32s(_ field: String) throws -> [Int32] {
        try Field.ints(field).map { Int32($0) }
    }
}
