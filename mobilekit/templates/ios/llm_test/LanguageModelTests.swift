// LanguageModel and ChatSession on hostile input, cancellation, closing and concurrent callers, with
// a toy model that keeps a real KV cache and the tokenizer of the loop goldens (Goldens/tokenizer.mkbpe).
// A real Swift test file: only its `@testable import` line is rewritten to the package's module.

import Foundation
import XCTest

@testable import MobilekitLLM

final class LanguageModelTests: XCTestCase {
    func testAnEmptyPromptFailsBeforeAnyModelCall() async throws {
        let (model, backend) = try makeModel()
        XCTAssertThrowsError(try model.generateText("")) { XCTAssertEqual($0 as? GenerationError, .emptyPrompt) }
        let error = await streamError(model.generate(""))
        XCTAssertEqual(error as? GenerationError, .emptyPrompt)
        XCTAssertThrowsError(try model.chatText([])) {
            XCTAssertEqual($0 as? ChatTemplateError, .emptyConversation)
        }
        XCTAssertEqual(backend.calls, [])
    }

    func testAPromptLongerThanTheContextFailsBeforeAnyModelCall() async throws {
        let (model, backend) = try makeModel()
        let prompt = String(repeating: "The capital of France is Paris. ", count: 30)
        let tokens = model.tokenizer.encode(prompt, addSpecialTokens: true).count
        let expected = GenerationError.promptTooLong(promptTokens: tokens, contextLength: model.contextLength)
        XCTAssertGreaterThan(tokens, model.contextLength)
        XCTAssertThrowsError(try model.generateText(prompt)) { XCTAssertEqual($0 as? GenerationError, expected) }
        let error = await streamError(model.generate(prompt))
        XCTAssertEqual(error as? GenerationError, expected)
        XCTAssertEqual(backend.calls, [])
    }

    func testAStopStringSpanningTwoTokensNeverAppearsInTheStream() async throws {
        let (model, _) = try makeModel()
        let plain = try model.generateText("The capital", config: try GenerationConfig(maxNewTokens: 24))
        let pieces = plain.tokenIds.map { model.tokenizer.decode([$0]) }
        // The last character of one token and the first of the next, where it first occurs.
        var before = ""
        var found: (stop: String, shown: String)?
        for (piece, next) in zip(pieces, pieces.dropFirst()) where found == nil {
            before += piece
            guard let last = piece.last, let first = next.first else { continue }
            let stop = String(last) + String(first)
            if !before.contains(stop) { found = (stop, String(before.dropLast())) }
        }
        let (stop, shown) = try XCTUnwrap(found, "no two tokens to span in \(pieces)")
        let config = try GenerationConfig(maxNewTokens: 24, stopStrings: [stop])
        var streamed = ""
        for try await text in model.generate("The capital", config: config) {
            streamed += text
            XCTAssertFalse(streamed.contains(stop))
        }
        XCTAssertEqual(streamed, shown)
        let result = try model.generateText("The capital", config: config)
        XCTAssertEqual(result.stopReason, .stopString)
        XCTAssertEqual(result.text, shown)
    }

    func testCancellingAStreamStopsAfterTheTokenBeingComputed() async throws {
        let (model, backend) = try makeModel(delay: 0.02)
        let session = model.makeSession()
        let config = try GenerationConfig(maxNewTokens: 60)
        let consumer = Task {
            var shown = ""
            for try await text in session.send("What is the capital of France?", config: config) { shown += text }
            return shown
        }
        while backend.calls.count < 4 { try await Task.sleep(nanoseconds: 5_000_000) }
        consumer.cancel()
        let callsAtCancel = backend.calls.count
        let shown = try await consumer.value
        model.engine.exclusive {}  // waits for the generation to end
        XCTAssertLessThanOrEqual(backend.calls.count, callsAtCancel + 1)
        // The turn is recorded with the reply as far as it was generated.
        let messages = session.messages
        XCTAssertEqual(messages.map(\.role), [.user, .assistant])
        XCTAssertTrue(messages[1].content.hasPrefix(shown), "\(messages[1].content) does not start with \(shown)")
        // The model is as good as new.
        let short = try GenerationConfig(maxNewTokens: 10)
        let again = try model.generateText("The capital", config: short)
        let fresh = try makeModel().model.generateText("The capital", config: short)
        XCTAssertEqual(again.tokenIds, fresh.tokenIds)
        XCTAssertEqual(again.stopReason, .maxNewTokens)
    }

    func testConcurrentStreamsGetTheirSoloResults() async throws {
        let (model, backend) = try makeModel(delay: 0.002)
        let config = try GenerationConfig(maxNewTokens: 12)
        async let first = collect(model.generate(Self.prompts[0], config: config))
        async let second = collect(model.generate(Self.prompts[1], config: config))
        let texts = try await [first, second]
        let solo = try Self.prompts.map { try makeModel().model.generateText($0, config: config).text }
        XCTAssertEqual(texts, solo)
        XCTAssertFalse(backend.overlapped)
        XCTAssertEqual(phases(backend.calls), ["prefill", "decode", "prefill", "decode"])
    }

    func testTwoThreadsShareOneModelOneGenerationAtATime() throws {
        let (model, backend) = try makeModel(delay: 0.002)
        let config = try GenerationConfig(maxNewTokens: 12)
        let results = Shared([String: GenerationResult]())
        let done = DispatchGroup()
        for prompt in Self.prompts {
            done.enter()
            Thread {
                let result = try? model.generateText(prompt, config: config)
                results.update { $0[prompt] = result }
                done.leave()
            }.start()
        }
        done.wait()
        for prompt in Self.prompts {
            let solo = try makeModel().model.generateText(prompt, config: config)
            let shared = try XCTUnwrap(results.value[prompt])
            XCTAssertEqual(shared.tokenIds, solo.tokenIds)
            XCTAssertEqual(shared.text, solo.text)
        }
        // One generation's calls, then the other's: never interleaved, never at the same time.
        XCTAssertFalse(backend.overlapped)
        XCTAssertEqual(phases(backend.calls), ["prefill", "decode", "prefill", "decode"])
        XCTAssertEqual(backend.calls.filter { $0 == "decode" }.count, 2 * (config.maxNewTokens - 1))
    }

    func testASessionKeepsItsCacheBetweenTurns() throws {
        let (model, _) = try makeModel()
        let session = model.makeSession(systemPrompt: "Answer in one word.")
        let config = try GenerationConfig(maxNewTokens: 8)
        let first = try session.sendText("What is the capital of France?", config: config)
        let second = try session.sendText("And of Italy?", config: config)
        XCTAssertEqual(first.reusedTokens, 0)
        XCTAssertGreaterThan(second.reusedTokens, first.promptTokens / 2)
        let messages = session.messages
        XCTAssertEqual(messages.map(\.role), [.system, .user, .assistant, .user, .assistant])
        XCTAssertEqual(messages[2].content, first.text)
        XCTAssertEqual(messages[4].content, second.text)
        // Reusing the cache changes nothing: a fresh model given the whole conversation says the same.
        let fresh = try makeModel().model.chatText(Array(messages.prefix(4)), config: config)
        XCTAssertEqual(fresh.tokenIds, second.tokenIds)
        XCTAssertEqual(fresh.reusedTokens, 0)
        session.reset()
        XCTAssertEqual(session.messages, [ChatMessage(role: .system, content: "Answer in one word.")])
    }

    func testResetDropsTheReplyBeingGenerated() async throws {
        let (model, backend) = try makeModel(delay: 0.02)
        let session = model.makeSession(systemPrompt: "Answer in one word.")
        let stream = session.send("What is the capital of France?", config: try GenerationConfig(maxNewTokens: 10))
        while backend.calls.count < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        session.reset()
        _ = try await collect(stream)
        XCTAssertEqual(session.messages, [ChatMessage(role: .system, content: "Answer in one word.")])
    }

    func testAModelWithoutAChatTemplateRefusesToChat() throws {
        let (model, backend) = try makeModel(chatShape: nil)
        let question = [ChatMessage(role: .user, content: "What is the capital of France?")]
        XCTAssertThrowsError(try model.chatText(question)) {
            XCTAssertEqual($0 as? GenerationError, .noChatTemplate)
        }
        XCTAssertThrowsError(try model.makeSession().sendText("Hi")) {
            XCTAssertEqual($0 as? GenerationError, .noChatTemplate)
        }
        XCTAssertEqual(backend.calls, [])
        let result = try model.generateText("The capital", config: try GenerationConfig(maxNewTokens: 3))
        XCTAssertEqual(result.tokenIds.count, 3)
    }

    func testCloseFreesTheModelAndLaterCallsThrow() async throws {
        weak var released: ToyBackend?
        let model: LanguageModel
        do {
            let (made, backend) = try makeModel()
            model = made
            released = backend
        }
        _ = try model.generateText("The capital", config: try GenerationConfig(maxNewTokens: 4))
        model.close()
        XCTAssertNil(released)
        XCTAssertThrowsError(try model.generateText("The capital")) { XCTAssertEqual($0 as? GenerationError, .closed) }
        let error = await streamError(model.generate("The capital"))
        XCTAssertEqual(error as? GenerationError, .closed)
        model.close()  // again: nothing left to do
    }

    func testClosingDuringAGenerationEndsItAfterTheCurrentStep() async throws {
        let (model, backend) = try makeModel(delay: 0.02)
        let stream = model.generate("The capital", config: try GenerationConfig(maxNewTokens: 60))
        while backend.calls.count < 3 { try await Task.sleep(nanoseconds: 5_000_000) }
        model.close()
        let callsAtClose = backend.calls.count
        let error = await streamError(stream)
        XCTAssertEqual(error as? GenerationError, .closed)
        XCTAssertEqual(backend.calls.count, callsAtClose)
        XCTAssertLessThan(callsAtClose, 20)
    }

    func testInvalidConfigsAreRejected() throws {
        XCTAssertThrowsError(try GenerationConfig(maxNewTokens: 0))
        XCTAssertThrowsError(try GenerationConfig(temperature: -1))
        XCTAssertThrowsError(try GenerationConfig(topP: 0))
        XCTAssertThrowsError(try GenerationConfig(stopStrings: [""]))
        XCTAssertEqual(GenerationConfig.default, try GenerationConfig())
    }

    func testPrefillPlanTakesTheLargestChunksThenTheSmallestThatFits() {
        XCTAssertEqual(GenerationEngine.prefillPlan(count: 70, lengths: [8, 32]), [32, 32, 8])
        XCTAssertEqual(GenerationEngine.prefillPlan(count: 64, lengths: [8, 32]), [32, 32])
        XCTAssertEqual(GenerationEngine.prefillPlan(count: 9, lengths: [8, 32]), [32])
        XCTAssertEqual(GenerationEngine.prefillPlan(count: 1, lengths: [8, 32]), [8])
    }

    private static let prompts = ["The capital of France", "Rome is"]

    private static let chatML = ChatShape(kind: .chatml, bos: "", defaultSystem: nil, qwen3Thinking: false)

    private func makeModel(
        delay: TimeInterval = 0, chatShape: ChatShape? = chatML
    ) throws -> (model: LanguageModel, backend: ToyBackend) {
        let tokenizer = try LoopGoldenFile.tokenizer()
        let backend = ToyBackend(tokenizer: tokenizer, delay: delay)
        let model = LanguageModel(
            tokenizer: tokenizer, backend: backend, chatShape: chatShape, defaultStopTokenIds: [2])
        return (model, backend)
    }

    /// The kinds of the calls, consecutive ones of a kind collapsed: ["prefill", "decode", ...].
    private func phases(_ calls: [String]) -> [String] {
        calls.map { $0 == "decode" ? "decode" : "prefill" }.reduce(into: []) { if $0.last != $1 { $0.append($1) } }
    }
}

private func collect(_ stream: AsyncThrowingStream<String, Error>) async throws -> String {
    var text = ""
    for try await piece in stream { text += piece }
    return text
}

private func streamError(_ stream: AsyncThrowingStream<String, Error>) async -> Error? {
    do {
        _ = try await collect(stream)
        return nil
    } catch {
        return error
    }
}

/// A toy model with a real KV cache: the token after position p depends on every token in slots
/// 0...p, so feeding it a wrong cache state changes the text. It picks among the tokens of one
/// sentence (never a stop token), can be slow (to cancel mid-token), and records its calls.
///
/// `@unchecked Sendable`: its state is guarded by `lock`, so the tests can read it while it runs.
private final class ToyBackend: LanguageModelBackend, @unchecked Sendable {
    let vocabularySize: Int
    let contextLength = 128
    let prefillLengths = [4, 16]
    private let words: [Int32]
    private let delay: TimeInterval
    private let lock = NSLock()
    private var slots: [Int32]
    private var log: [String] = []
    private var running = 0
    private var overlaps = 0

    init(tokenizer: ByteLevelBPETokenizer, delay: TimeInterval) {
        vocabularySize = tokenizer.vocabularySize
        words = Set(tokenizer.encode("the capital of France is Paris, and of Italy it is Rome")).sorted()
        self.delay = delay
        slots = [Int32](repeating: 0, count: contextLength)
    }

    /// The signatures run so far.
    var calls: [String] { lock.locked { log } }
    /// Whether two calls ever ran at the same time.
    var overlapped: Bool { lock.locked { overlaps > 0 } }

    func run(signature: String, tokens: [Int32], positions: [Int32], row: Int) throws -> [Float] {
        lock.locked {
            log.append(signature)
            running += 1
            if running > 1 { overlaps += 1 }
        }
        defer { lock.locked { running -= 1 } }
        Thread.sleep(forTimeInterval: delay)
        let choice = lock.locked { () -> Int32 in
            for (token, position) in zip(tokens, positions) where position >= 0 { slots[Int(position)] = token }
            let seen = slots[0...Int(positions[row])]
            let hash = seen.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
            return words[Int(hash % UInt64(words.count))]
        }
        var logits = [Float](repeating: 0, count: vocabularySize)
        logits[Int(choice)] = 10
        return logits
    }
}

/// A value threads update under a lock.
private final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Value

    init(_ value: Value) { current = value }

    var value: Value { lock.locked { current } }

    func update(_ body: (inout Value) -> Void) {
        lock.locked { body(&current) }
    }
}
