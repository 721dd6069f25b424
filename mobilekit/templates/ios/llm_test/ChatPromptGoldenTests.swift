// ChatPrompt.swift against transformers' apply_chat_template, byte for byte. The shapes come from
// the generated goldenChatShapes (in an SDK: the model's own GeneratedChatShape.shape).
// A real Swift test file: only its `@testable import` line is rewritten to the package's module.

import XCTest

@testable import MobilekitLLM

final class ChatPromptGoldenTests: XCTestCase {
    func testPromptsEqualApplyChatTemplate() throws {
        let goldens = try LlmGoldenFile.load()
        var bad = [String]()
        for golden in goldens.chats {
            let shape = try XCTUnwrap(goldenChatShapes[golden.shape], "no shape \(golden.shape)")
            let got = try? ChatPrompt.render(
                shape: shape, messages: golden.messages, addGenerationPrompt: golden.generation,
                enableThinking: golden.thinking)
            // Compare UTF-8 bytes: Swift's == on String ignores canonical differences Python sees.
            if got.map({ Array($0.utf8) }) != golden.expected.map({ Array($0.utf8) }) {
                bad.append("\(golden.name): Swift \(quote(got)), transformers \(quote(golden.expected))")
            }
        }
        LlmGoldenFile.report("chat", goldens.chats.count, bad)
    }

    private func quote(_ text: String?) -> String {
        text.map { $0.replacingOccurrences(of: "\n", with: "\\n") } ?? "(error)"
    }
}
