// Sampler.swift against Python's picks (mobilekit/llm/sampling.py): random stream, exp, tokens, stops.
// A real Swift test file: only its `@testable import` line is rewritten to the package's module.

import XCTest

@testable import MobilekitLLM

final class SamplerGoldenTests: XCTestCase {
    func testRandomStreamMatchesPython() throws {
        let goldens = try LlmGoldenFile.load()
        var bad = [String]()
        for (seed, values) in goldens.rng {
            var rng = SplitMix64(seed: seed)
            let got = values.map { _ in rng.next() }
            if got != values { bad.append("seed \(seed): \(got)") }
        }
        for (seed, values) in goldens.units {
            var rng = SplitMix64(seed: seed)
            let got = values.map { _ in rng.nextDouble().bitPattern }
            if got != values { bad.append("seed \(seed) doubles: \(got)") }
        }
        LlmGoldenFile.report("rng", goldens.rng.count + goldens.units.count, bad)
    }

    func testExpMatchesPythonBitForBit() throws {
        let goldens = try LlmGoldenFile.load()
        let bad = goldens.exps.filter { SamplingMath.detExp($0.0).bitPattern != $0.1.bitPattern }
            .map { "exp(\($0.0)) = \(SamplingMath.detExp($0.0)), Python \($0.1)" }
        LlmGoldenFile.report("exp", goldens.exps.count, bad)
    }

    func testSamplerPicksPythonsTokens() throws {
        let goldens = try LlmGoldenFile.load()
        var bad = [String]()
        for golden in goldens.samples {
            let got = try replay(golden, try XCTUnwrap(goldens.logits[golden.logits]))
            if got != golden.tokens {
                bad.append(
                    "\(golden.name): Swift \(String(describing: got)), Python \(String(describing: golden.tokens))")
            }
        }
        LlmGoldenFile.report("sample", goldens.samples.count, bad)
    }

    func testStopTrackerMatchesPython() throws {
        let goldens = try LlmGoldenFile.load()
        var bad = [String]()
        for golden in goldens.stops {
            var tracker = try StopTracker(
                criteria: golden.criteria, promptTokens: golden.promptTokens, contextLength: golden.contextLength)
            var chunks = [String]()
            var reason = "-"
            for (token, delta) in golden.events {
                let step = try tracker.accept(token: token, delta: delta)
                chunks.append(step.text)
                if let stop = step.stop {
                    reason = stop.rawValue
                    break
                }
            }
            // Compare UTF-8 bytes: Swift's == on String ignores canonical differences Python sees.
            let same = chunks.map { Array($0.utf8) } == golden.chunks.map { Array($0.utf8) }
            if reason != golden.reason || !same || tracker.generated != golden.accepted {
                let python = "\(golden.reason) \(golden.chunks) \(golden.accepted)"
                bad.append("\(golden.name): Swift \(reason) \(chunks) \(tracker.generated), Python \(python)")
            }
        }
        LlmGoldenFile.report("stop", goldens.stops.count, bad)
    }

    func testSameSeedSameTokens() throws {
        let goldens = try LlmGoldenFile.load()
        let golden = try XCTUnwrap(goldens.samples.first { $0.tokens != nil && !$0.config.isGreedy })
        let steps = try XCTUnwrap(goldens.logits[golden.logits])
        XCTAssertEqual(try replay(golden, steps), try replay(golden, steps))
    }

    /// Tokens picked step by step; nil when the first step has no usable logits.
    private func replay(_ golden: LlmGoldenFile.Sample, _ steps: [[Float]]) throws -> [Int]? {
        var sampler = Sampler(config: golden.config)
        var picked = [Int]()
        for logits in steps {
            do {
                picked.append(try sampler.sample(logits: logits, previousTokens: golden.prompt + picked))
            } catch SamplerError.noUsableLogits where picked.isEmpty {
                return nil
            }
        }
        return picked
    }
}
