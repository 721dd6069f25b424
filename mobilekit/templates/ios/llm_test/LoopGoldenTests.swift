// GenerationEngine against the loop Python ran on the converted model (mobilekit/llm/generation.py):
// the same model calls, tokens, text chunks and stop reasons, replayed from Goldens/loop_goldens.txt.
// A real Swift test file: only its `@testable import` line is rewritten to the package's module.

import XCTest

@testable import MobilekitLLM

final class LoopGoldenTests: XCTestCase {
    func testLoopMatchesPython() throws {
        let goldens = try LoopGoldenFile.load()
        let tokenizer = try LoopGoldenFile.tokenizer()
        var bad = [String]()
        var total = 0
        for golden in goldens.cases {
            let backend = ReplayBackend(golden)
            let engine = GenerationEngine(tokenizer: tokenizer, backend: backend)
            for (index, turn) in golden.turns.enumerated() {
                total += 1
                backend.expect(turn.calls)
                if let mismatch = replay(turn, engine, backend) {
                    bad.append("\(golden.name) turn \(index + 1): \(mismatch)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(total, 8)
        LlmGoldenFile.report("loop", total, bad)
    }

    /// What differs from the recording; nil when nothing does.
    private func replay(_ turn: LoopGoldenFile.Turn, _ engine: GenerationEngine, _ backend: ReplayBackend) -> String? {
        do {
            let (result, chunks) = try engine.exclusive {
                let run = try engine.start(
                    prompt: turn.prompt, config: turn.config, defaultStopTokenIds: [], reuseCache: turn.reuse)
                var chunks: [String] = []
                while run.stopReason == nil { chunks.append(try run.step().text) }
                return (run.result(), chunks)
            }
            guard case .generation(let stop, let expectedChunks, let tokens, let reused) = turn.expected else {
                return "generated \(result.tokenIds), Python failed with \(turn.expected)"
            }
            let got = "\(result.stopReason?.rawValue ?? "-") \(chunks) \(result.tokenIds) reused \(result.reusedTokens)"
            // Compare UTF-8 bytes: Swift's == on String ignores canonical differences Python sees.
            let sameChunks = chunks.map { Array($0.utf8) } == expectedChunks.map { Array($0.utf8) }
            if result.stopReason?.rawValue != stop || !sameChunks || result.tokenIds != tokens
                || result.reusedTokens != reused
            {
                return "Swift \(got), Python \(stop) \(expectedChunks) \(tokens) reused \(reused)"
            }
            return backend.remaining > 0 ? "\(backend.remaining) recorded calls were not made" : nil
        } catch let error as GenerationError {
            let kind: String
            switch error {
            case .emptyPrompt: kind = "empty_prompt"
            case .promptTooLong: kind = "prompt_too_long"
            default: kind = "\(error)"
            }
            guard case .failure(kind) = turn.expected else { return "Swift failed (\(error)), Python \(turn.expected)" }
            return backend.made > 0 ? "\(backend.made) model calls before failing" : nil
        } catch {
            return "Swift failed: \(error)"
        }
    }
}

/// Checks each call against the recording (signature, tokens, positions, row) and answers with the
/// recorded logits, every other logit -inf.
private final class ReplayBackend: LanguageModelBackend {
    struct Mismatch: Error, CustomStringConvertible {
        let description: String
    }

    let vocabularySize: Int
    let contextLength: Int
    let prefillLengths: [Int]
    private var calls: [LoopGoldenFile.Call] = []
    private(set) var made = 0

    init(_ golden: LoopGoldenFile.Case) {
        vocabularySize = golden.vocabularySize
        contextLength = golden.contextLength
        prefillLengths = golden.prefillLengths
    }

    var remaining: Int { calls.count - made }

    func expect(_ calls: [LoopGoldenFile.Call]) {
        self.calls = calls
        made = 0
    }

    func run(signature: String, tokens: [Int32], positions: [Int32], row: Int) throws -> [Float] {
        let got = "\(signature) \(tokens) \(positions) row \(row)"
        guard made < calls.count else { throw Mismatch(description: "call \(made + 1) \(got) was not recorded") }
        let call = calls[made]
        made += 1
        guard (call.signature, call.tokens, call.positions, call.row) == (signature, tokens, positions, row) else {
            let recorded = "\(call.signature) \(call.tokens) \(call.positions) row \(call.row)"
            throw Mismatch(description: "call \(made): \(got), recorded \(recorded)")
        }
        var logits = [Float](repeating: -.infinity, count: vocabularySize)
        for (id, value) in call.logits { logits[id] = value }
        return logits
    }
}
