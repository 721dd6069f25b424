// mobilekit LLM runtime: the public API of a generated language-model package (streaming,
// synchronous, chat sessions). A real Swift file, copied as is into each generated package; the
// generated model class subclasses `LanguageModel` and only adds how to load its assets (the Kotlin
// twin is LanguageModel.kt).

import Foundation

/// A causal language model with its tokenizer and chat template.
///
/// ```swift
/// for try await text in model.chat([ChatMessage(role: .user, content: "Hi!")]) {
///     print(text, terminator: "")
/// }
/// ```
///
/// Thread-safe: generations on one instance run one at a time, in the order they were asked for (a
/// second caller waits). They run on the engine's serial dispatch queue rather than in a `Task`: a
/// generation blocks its thread on the model for seconds, and Swift concurrency's cooperative pool
/// has only one thread per core. `close()` frees the model; later generations throw
/// `GenerationError.closed`.
///
/// `@unchecked Sendable` only because the class is not final (for the generated subclass): every
/// stored property is immutable and Sendable. A subclass restates `@unchecked Sendable` and adds only
/// such properties.
public class LanguageModel: @unchecked Sendable {
    public let tokenizer: ByteLevelBPETokenizer
    /// The model's chat template, recognised when the package was generated; nil for a model without
    /// one (chat calls then throw `GenerationError.noChatTemplate`).
    public let chatShape: ChatShape?
    /// Ids that end generation unless a config names its own: end of text, end of turn.
    public let defaultStopTokenIds: Set<Int>
    let engine: GenerationEngine

    public init(
        tokenizer: ByteLevelBPETokenizer, backend: LanguageModelBackend, chatShape: ChatShape?,
        defaultStopTokenIds: Set<Int>
    ) {
        self.tokenizer = tokenizer
        self.chatShape = chatShape
        self.defaultStopTokenIds = defaultStopTokenIds
        engine = GenerationEngine(tokenizer: tokenizer, backend: backend)
    }

    /// KV-cache slots: prompt plus generated tokens can never exceed it.
    public var contextLength: Int { engine.contextLength }

    /// Streams the continuation of `prompt` (raw text, no chat template) as it is generated. Each
    /// element is whole characters. Cancelling the consuming task, or dropping the stream, stops
    /// generation after the token being computed. Throws `GenerationError.emptyPrompt` or
    /// `.promptTooLong` when iterated.
    public func generate(_ prompt: String, config: GenerationConfig = .default) -> AsyncThrowingStream<String, Error> {
        stream(config: config) { [tokenizer] in Prompt(ids: tokenizer.encode(prompt, addSpecialTokens: true)) }
    }

    /// `generate`, blocking the calling thread until generation stops; `onText` sees each piece, on
    /// that thread, and must not start another generation or close the model (that would deadlock).
    /// Cancelling the calling task stops generation after the token being computed (stop reason nil);
    /// a task cancelled before its generation started gets `CancellationError`.
    public func generateText(
        _ prompt: String, config: GenerationConfig = .default, onText: (String) -> Void = { _ in }
    ) throws -> GenerationResult {
        try blocking(config: config, onText: onText) {
            Prompt(ids: tokenizer.encode(prompt, addSpecialTokens: true))
        }
    }

    /// Streams the reply to `messages`, rendered with the model's chat template exactly as
    /// transformers does.
    public func chat(
        _ messages: [ChatMessage], config: GenerationConfig = .default
    ) -> AsyncThrowingStream<String, Error> {
        stream(config: config) { [self] in Prompt(ids: try encodeChat(messages)) }
    }

    /// `chat`, blocking the calling thread (see `generateText`).
    public func chatText(
        _ messages: [ChatMessage], config: GenerationConfig = .default, onText: (String) -> Void = { _ in }
    ) throws -> GenerationResult {
        try blocking(config: config, onText: onText) { Prompt(ids: try encodeChat(messages)) }
    }

    /// A conversation that keeps its KV cache between turns: each turn only computes its new tokens.
    public func makeSession(systemPrompt: String? = nil) -> ChatSession {
        ChatSession(model: self, systemPrompt: systemPrompt)
    }

    /// The exact prompt text `chat` feeds the model for `messages`.
    public func renderChat(_ messages: [ChatMessage]) throws -> String {
        guard let chatShape else { throw GenerationError.noChatTemplate }
        return try ChatPrompt.render(shape: chatShape, messages: messages)
    }

    /// Frees the model once the running generation (if any) has finished its current step; that
    /// generation, and every later one, throws `GenerationError.closed`.
    public func close() {
        engine.close()
    }

    func encodeChat(_ messages: [ChatMessage]) throws -> [Int32] {
        tokenizer.encode(try renderChat(messages))
    }

    /// A generation's prompt ids, and what to do with its result (a session records the turn).
    struct Prompt {
        let ids: [Int32]
        var onDone: (GenerationResult) -> Void = { _ in }
    }

    /// `prompt` is made when the generation's turn comes, after the generations asked for earlier.
    func stream(
        config: GenerationConfig, prompt: @escaping @Sendable () throws -> Prompt
    ) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            let cancellation = Cancellation()
            continuation.onTermination = { _ in cancellation.cancel() }
            engine.enqueue { [self] in
                do {
                    _ = try generation(
                        config: config, isCancelled: { cancellation.isCancelled },
                        onText: { continuation.yield($0) }, prompt: prompt)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    func blocking(
        config: GenerationConfig, onText: (String) -> Void, prompt: () throws -> Prompt
    ) throws -> GenerationResult {
        try engine.exclusive {
            try generation(config: config, isCancelled: { Task.isCancelled }, onText: onText, prompt: prompt)
        }
    }

    /// One generation, inside the engine's exclusive region. `isCancelled` is checked between
    /// tokens; a generation cancelled before its turn came throws `CancellationError`.
    private func generation(
        config: GenerationConfig, isCancelled: () -> Bool, onText: (String) -> Void, prompt: () throws -> Prompt
    ) throws -> GenerationResult {
        guard !isCancelled() else { throw CancellationError() }
        let prompt = try prompt()
        let run = try engine.start(
            prompt: prompt.ids, config: config, defaultStopTokenIds: defaultStopTokenIds, reuseCache: true)
        defer { prompt.onDone(run.result()) }  // also after an error: the reply as far as it got
        while true {
            let step = try run.step()
            if !step.text.isEmpty { onText(step.text) }
            if step.stop != nil || isCancelled() { break }
        }
        return run.result()
    }
}

/// A chat: the messages so far, and the model's KV cache kept between turns. Each `send` adds the
/// user's message and, once generation ends (stopped, finished or cancelled), the reply as far as it
/// was generated. A turn reads the history when its generation starts, after every turn sent before
/// it has been recorded (a cancelled stream ends at once; its turn is recorded when the generation
/// has stopped, after the token being computed).
///
/// `@unchecked Sendable`: the history is guarded by a lock.
public final class ChatSession: @unchecked Sendable {
    private let model: LanguageModel
    private let lock = NSLock()
    private var history: [ChatMessage] = []
    // Bumped by reset(): a turn that ends after a reset does not bring the old conversation back.
    private var epoch = 0

    init(model: LanguageModel, systemPrompt: String?) {
        self.model = model
        if let systemPrompt { history.append(ChatMessage(role: .system, content: systemPrompt)) }
    }

    public var messages: [ChatMessage] { lock.locked { history } }

    /// Streams the reply to `text` (see `LanguageModel.generate` for cancellation and errors).
    public func send(_ text: String, config: GenerationConfig = .default) -> AsyncThrowingStream<String, Error> {
        model.stream(config: config) { [self] in try prompt(replyingTo: text) }
    }

    /// `send`, blocking the calling thread (see `LanguageModel.generateText`).
    public func sendText(
        _ text: String, config: GenerationConfig = .default, onText: (String) -> Void = { _ in }
    ) throws -> GenerationResult {
        try model.blocking(config: config, onText: onText) { try prompt(replyingTo: text) }
    }

    /// Forgets the conversation (the system prompt stays); a reply still being generated is dropped.
    public func reset() {
        lock.locked {
            if let first = history.first, first.role == .system { history = [first] } else { history = [] }
            epoch += 1
        }
    }

    private func prompt(replyingTo text: String) throws -> LanguageModel.Prompt {
        let (turn, started) = lock.locked { (history + [ChatMessage(role: .user, content: text)], epoch) }
        return LanguageModel.Prompt(ids: try model.encodeChat(turn)) { [self] result in
            lock.locked {
                if epoch == started { history = turn + [ChatMessage(role: .assistant, content: result.text)] }
            }
        }
    }
}

/// Set when a stream's consumer goes away; read by its generation between tokens.
///
/// `@unchecked Sendable`: the flag is guarded by a lock.
private final class Cancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    var isCancelled: Bool { lock.locked { cancelled } }

    func cancel() {
        lock.locked { cancelled = true }
    }
}
