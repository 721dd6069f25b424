import Foundation
import Observation
import SmolChatKit

/// Loads the model once and holds one chat session with it.
@MainActor
@Observable
final class ChatModel {
    /// The conversation; while a reply streams in, it grows in the last message.
    private(set) var messages: [ChatMessage] = []
    var draft = ""
    private(set) var error: String?
    private var session: ChatSession?
    private var generation: Task<Void, Never>?
    @ObservationIgnored private var model: SmolChat?

    var isReady: Bool { session != nil }
    var isGenerating: Bool { generation != nil }

    // The example's context holds 256 tokens, prompt and reply together, so replies stay short.
    // Temperature and top-p are the ones SmolLM2's model card uses; all in range, so no throw.
    private static let reply = try! GenerationConfig(maxNewTokens: 128, temperature: 0.2, topP: 0.9)

    func load() async {
        guard model == nil else { return }
        do {
            // Seconds on first launch (Core ML compiles the model); the async init runs off the main actor.
            let model = try await SmolChat()
            self.model = model
            session = model.makeSession()
        } catch {
            self.error = "The model could not be loaded: \(error)"
        }
    }

    func send() {
        let text = draft.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let session, !text.isEmpty, !isGenerating else { return }
        draft = ""
        error = nil
        messages += [ChatMessage(role: .user, content: text), ChatMessage(role: .assistant, content: "")]
        generation = Task {
            do {
                for try await piece in session.send(text, config: Self.reply) {
                    let last = messages.endIndex - 1
                    messages[last] = ChatMessage(role: .assistant, content: messages[last].content + piece)
                }
            } catch GenerationError.promptTooLong(_, let contextLength) {
                // Nothing was generated and the session did not record the turn: take it back.
                messages.removeLast(2)
                draft = text
                error = "This chat no longer fits the model's \(contextLength)-token context: start a new chat."
            } catch {
                self.error = "\(error)"
            }
            generation = nil
        }
    }

    /// The reply so far stays, on screen and in the session: the next message continues the chat.
    func stop() {
        generation?.cancel()
    }

    func newChat() async {
        if let generation {
            generation.cancel()
            await generation.value
        }
        // A new session rather than reset(): a stopped turn is recorded once its last token is done,
        // on the model's queue, which can be after a reset and would bring the old chat back.
        session = model?.makeSession()
        messages = []
        error = nil
    }
}
